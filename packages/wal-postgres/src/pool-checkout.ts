import type pg from 'pg';

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
