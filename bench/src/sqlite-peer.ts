import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The folder the SQLite peer is installed in, apart from the workspace (CI never compiles it). */
export const peerFolder = fileURLToPath(new URL('../.sqlite-peer/', import.meta.url));
const VERSION = '12.11.1';

/**
 * better-sqlite3, the peer every lifecycle figure is measured against, installed into the bench's own
 * folder the first time the bench runs (it compiles for about 70 s: its prebuilt download cannot be
 * reached here). 13.x needs Node 22.
 */
export async function loadSqlite(): Promise<SqliteConstructor> {
  if (!existsSync(`${peerFolder}node_modules/better-sqlite3/build/Release/better_sqlite3.node`)) {
    await mkdir(peerFolder, { recursive: true });
    await writeFile(`${peerFolder}package.json`, `${JSON.stringify({ name: 'memmapfs-bench-sqlite-peer', private: true }, null, 2)}\n`);
    process.stderr.write(`Installing better-sqlite3 ${VERSION} into ${peerFolder} (once; it compiles for about a minute)…\n`);
    const env = { ...process.env, ...(existsSync('/usr/include/node') ? { npm_config_nodedir: '/usr' } : {}) };
    execFileSync('npm', ['install', `better-sqlite3@${VERSION}`, '--no-audit', '--no-fund', '--no-save'], { cwd: peerFolder, env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return createRequire(`${peerFolder}package.json`)('better-sqlite3') as SqliteConstructor;
}

/** The part of better-sqlite3's API the bench uses (its types are not installed in the workspace). */
export interface SqliteDatabase {
  pragma(source: string): unknown;
  exec(sql: string): void;
  prepare(sql: string): { run(...values: unknown[]): unknown; get(...values: unknown[]): unknown; all(...values: unknown[]): unknown[] };
  transaction<F extends (...args: never[]) => void>(body: F): F;
  close(): void;
}

export type SqliteConstructor = new (path: string) => SqliteDatabase;
