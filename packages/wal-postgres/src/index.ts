export { postgresWal, PostgresWal } from './postgres-wal.js';
export type { PostgresWalOptions } from './postgres-wal.js';
export { POSTGRES_LOG_FORMAT } from './log-tables.js';
