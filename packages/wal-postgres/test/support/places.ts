import { randomUUID } from 'node:crypto';
import type { WalPlace } from '@memmapfs/testkit';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startServer, type TestPostgres, type TestServer } from './postgres-server.js';
import { postgresWal } from '../../src/index.js';

/** A store name no other test uses. */
export const freshStore = (prefix = 'test'): string => `${prefix}-${randomUUID()}`;

/** Runs `body` with a plain client of the test server. */
export async function withClient<T>(connectionString: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** Removes a store's rows (its log and its records). */
export async function dropStore(connectionString: string, store: string): Promise<void> {
  await withClient(connectionString, async (client) => {
    await client.query('DELETE FROM memmapfs_wal_records WHERE store = $1', [store]);
    await client.query('DELETE FROM memmapfs_wal_logs WHERE store = $1', [store]);
    await client.query('DELETE FROM memmapfs_wal_snapshots WHERE store = $1', [store]).catch(() => undefined);
    await client.query('DELETE FROM memmapfs_wal_readers WHERE store = $1', [store]).catch(() => undefined);
  });
}

/** A place for the conformance suite: a store of its own in the test server's database. */
export function storePlace(connectionString: string): WalPlace {
  const store = freshStore('suite');
  // Rot: a byte in the middle of the record's payload changed in its row, behind the log's back.
  const damage = (lsn: number) => withClient(connectionString, async (client) => {
    const changed = await client.query(
      'UPDATE memmapfs_wal_records SET payload = set_byte(payload, length(payload) / 2, get_byte(payload, length(payload) / 2) # 255) WHERE store = $1 AND lsn = $2',
      [store, lsn],
    );
    if (changed.rowCount !== 1) throw new Error(`no record ${lsn} in store ${store}`);
  });
  return { open: postgresWal({ connectionString, store }), cleanup: () => dropStore(connectionString, store).catch(() => undefined), damage };
}

/** An entry to append: type 1 with `text` as its payload. */
export const entry = (text: string) => ({ type: 1, payload: Buffer.from(text) });

/** A record's payload as text. */
export const text = (record: { payload: Uint8Array }) => Buffer.from(record.payload).toString();

/**
 * A server of the test file's own, started before its tests and removed after them: for tests that
 * restart it, which must not cut the connections of the other test files. Returns how to reach it.
 */
export function serverOfItsOwn(postgres: TestPostgres): () => TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startServer(postgres.bin, postgres.template);
  });
  afterAll(async () => {
    await server?.remove();
  });
  return () => server!;
}

/** A log's follower connection, as tests reach into it. */
export interface FollowerInside {
  client: { connection: { stream: { destroy(): void } }; processID: number };
  retryDelay: number;
}

/** The follower of an open PostgreSQL log. */
export const followerOf = (wal: unknown): FollowerInside => (wal as { follower: FollowerInside }).follower;

/**
 * Breaks a follower's connection (a network blip) and waits until the server has ended its session,
 * and with it the position lock; the follower connects again after `retryDelay` ms.
 */
export async function breakFollower(connectionString: string, follower: FollowerInside, retryDelay: number): Promise<void> {
  const pid = follower.client.processID;
  follower.retryDelay = retryDelay;
  follower.client.connection.stream.destroy();
  for (let i = 0; i < 250; i++) {
    const gone = await withClient(connectionString, async (client) => (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n === 0);
    if (gone) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the follower session did not end');
}
