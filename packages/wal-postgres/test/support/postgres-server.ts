import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

/** What the tests are told about the PostgreSQL started for them (see `global-setup.ts`). */
export interface TestPostgres {
  /** Connection string of the server started for the run (a Unix socket in its folder). */
  readonly connectionString: string;
  /** Folder of PostgreSQL's server programs. */
  readonly bin: string;
  /** A freshly initialised, stopped data folder that tests copy to run a server of their own. */
  readonly template: string;
}

export const INSTALL_ADVICE =
  "PostgreSQL's server programs (initdb, pg_ctl) were not found, so the tests of @memmapfs/wal-postgres are skipped. " +
  'Install them to run these tests: `apt-get install postgresql` (Debian, Ubuntu), or set POSTGRES_BIN to the folder that holds initdb and pg_ctl.';

/** The folder holding initdb and pg_ctl: $POSTGRES_BIN, Debian's newest /usr/lib/postgresql/N/bin, or the PATH. */
export function findPostgresBin(): string | undefined {
  const fromEnv = process.env.POSTGRES_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const bin = join(debian, version, 'bin');
      if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
    }
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const initdb = which.stdout.trim();
  return which.status === 0 && initdb ? join(initdb, '..') : undefined;
}

/**
 * PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user (which Debian's
 * package creates) or else `nobody`, owning the folder they work in.
 */
function serverUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (id.status === 0 && gid.status === 0) return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('Running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as (it refuses root).');
}

function serverCommand(bin: string, program: string, args: string[]): [string, string[]] {
  const user = serverUser();
  return user ? ['runuser', ['-u', user.name, '--', join(bin, program), ...args]] : [join(bin, program), args];
}

function failed(program: string, args: string[], error: unknown): Error {
  const { stdout, stderr } = error as { stdout?: string; stderr?: string };
  return new Error(`${program} ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
}

function runAsServer(bin: string, program: string, args: string[]): string {
  const [command, argv] = serverCommand(bin, program, args);
  try {
    return execFileSync(command, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw failed(program, args, error);
  }
}

/** As `runAsServer`, without blocking this process (its connections keep working meanwhile). */
async function runAsServerAsync(bin: string, program: string, args: string[]): Promise<void> {
  const [command, argv] = serverCommand(bin, program, args);
  try {
    await promisify(execFile)(command, argv, { encoding: 'utf8' });
  } catch (error) {
    throw failed(program, args, error);
  }
}

/** A folder the server's user owns. */
async function serverFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const user = serverUser();
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** A stopped, freshly initialised data folder (trust authentication, user postgres). */
export async function initTemplate(bin: string): Promise<string> {
  const dir = await serverFolder('memmapfs-pg-template-');
  runAsServer(bin, 'initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  return dir;
}

/** A PostgreSQL server of the tests' own, on a Unix socket in its folder (no TCP port). */
export interface TestServer {
  readonly connectionString: string;
  readonly folder: string;
  /**
   * `pg_ctl stop` then `start`, without blocking this process: `immediate` is a crash (no shutdown
   * checkpoint, recovery on start), `fast` a clean stop. `downMs`: time between the two.
   */
  restart(mode: 'fast' | 'immediate', downMs?: number): Promise<void>;
  stop(): void;
  start(): void;
  /** Stops the server and removes its folder. */
  remove(): Promise<void>;
}

/** The lines of a test server's log about lock waits and slow statements (for a failing test to print); '' when it cannot be read. */
export function lockWaits(connectionString: string): string {
  const folder = decodeURIComponent(/host=([^&]+)/.exec(connectionString)?.[1] ?? '');
  try {
    return readFileSync(join(folder, 'server.log'), 'utf8').split('\n').filter((line) => /lock|duration:|DETAIL|STATEMENT|CONTEXT/.test(line)).slice(-200).join('\n');
  } catch {
    return '';
  }
}

/** What every connection to the server is doing now, and who waits for whom (for a failing test to print). */
export async function serverActivity(connectionString: string): Promise<string> {
  const client = new pg.Client({ connectionString, application_name: 'memmapfs test' });
  try {
    await client.connect();
    const { rows } = await client.query(`SELECT pid, application_name AS app, state, wait_event_type || ':' || wait_event AS waits, pg_blocking_pids(pid) AS blocked_by,
      round(extract(epoch FROM now() - xact_start) * 1000) AS xact_ms, round(extract(epoch FROM now() - state_change) * 1000) AS state_ms, left(query, 160) AS query
      FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY xact_start NULLS LAST`);
    return rows.map((row) => JSON.stringify(row)).join('\n');
  } catch (error) {
    return `(the server's activity could not be read: ${(error as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Starts a server on a copy of `template`. */
export async function startServer(bin: string, template: string): Promise<TestServer> {
  const folder = await serverFolder('memmapfs-pg-');
  await cp(join(template, 'data'), join(folder, 'data'), { recursive: true, preserveTimestamps: true });
  const user = serverUser();
  if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, folder]);
  const data = join(folder, 'data');
  // Only the socket in the folder; fsync stays on, so that what a commit acknowledged survives a crash of the server.
  // Waits for a lock of more than a second go to server.log with the holder's pid and statement (`lockWaits`).
  const options = `-k ${folder} -c listen_addresses= -c max_connections=200 -c shared_buffers=32MB -c log_lock_waits=on -c deadlock_timeout=1s -c log_min_duration_statement=1000 -c log_line_prefix='%m [%p] %a '`;
  const startArgs = ['-D', data, '-o', options, '-l', join(folder, 'server.log'), '-w', '-t', '30', 'start'];
  const stopArgs = (mode: string) => ['-D', data, '-m', mode, '-w', '-t', '30', 'stop'];
  const start = () => runAsServer(bin, 'pg_ctl', startArgs);
  const stop = (mode: string) => runAsServer(bin, 'pg_ctl', stopArgs(mode));
  start();
  let running = true;
  return {
    connectionString: `postgresql://postgres@/postgres?host=${encodeURIComponent(folder)}`,
    folder,
    async restart(mode, downMs = 0) {
      await runAsServerAsync(bin, 'pg_ctl', stopArgs(mode));
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await runAsServerAsync(bin, 'pg_ctl', startArgs);
    },
    stop() {
      stop('fast');
      running = false;
    },
    start() {
      start();
      running = true;
    },
    async remove() {
      if (running) {
        try {
          stop('immediate');
        } catch {
          // Already stopped.
        }
      }
      running = false;
      await rm(folder, { recursive: true, force: true });
    },
  };
}
