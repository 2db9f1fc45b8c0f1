import type pg from 'pg';
import { BEGIN } from './log-queries.js';

/**
 * A connection of the pool for a transaction. Its errors while it is checked out (the server went away
 * between two queries) come back from the next query: the pool listens for them only while it is idle.
 */
export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  const ignore = () => undefined;
  client.on('error', ignore);
  const release = client.release.bind(client);
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', ignore);
    release(error);
  };
  return client;
}

/**
 * Runs one statement in a transaction of its own, in READ COMMITTED whatever the server's or role's
 * default (see `BEGIN`): left to autocommit, it would run in that default, where REPEATABLE READ or
 * SERIALIZABLE refuse a change to a row another host changed meanwhile (the log's row, which every
 * append changes) with a serialization failure.
 */
export async function inReadCommitted(client: pg.ClientBase, text: string, values: readonly unknown[]): Promise<pg.QueryResult> {
  await client.query(BEGIN);
  try {
    const result = await client.query(text, values as unknown[]);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
