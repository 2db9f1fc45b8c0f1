import { describeThrown, isWalError, WalError } from '@memmapfs/wal';

/** Errno codes of a connection that could not be made or was lost. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * SQLSTATEs of the server's reply that it is ending the session (FATAL): a shutdown, a server not yet
 * accepting connections, a session or transaction left idle past its timeout. The connection is gone
 * with it, though the reply came back like any other error.
 */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03', '57P05', '25P03']);

/**
 * Where the log lives, for messages: host, port (or socket folder) and database of a connection
 * string, never its user's password.
 */
export function describeServer(connectionString: string): string {
  // libpq URLs may leave the host out (a Unix socket named by ?host=), which WHATWG URLs refuse.
  const match = /^postgres(?:ql)?:\/\/(?:[^@/?]*@)?([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(connectionString);
  if (!match) return 'the server of the connection string';
  const params = new URLSearchParams(match[3] ?? '');
  const database = decodeURIComponent(match[2] ?? '') || params.get('dbname') || '(default database)';
  const socket = params.get('host');
  if (socket) return `${socket}/${database}`;
  const host = decodeURIComponent(match[1] ?? '') || 'localhost';
  return `${host}${/:\d+$/.test(host) ? '' : `:${params.get('port') ?? '5432'}`}/${database}`;
}

/** Whether `error` says the server cannot be reached or the connection to it was lost (nothing about the request itself). */
export function isConnectionLoss(error: unknown): boolean {
  const { code, message } = fieldsOf(error);
  if (typeof code === 'string' && (UNREACHABLE.has(code) || code.startsWith('08') || SESSION_ENDED.has(code))) return true;
  return typeof message === 'string' && /Connection terminated|not queryable|connection error|Client was closed/i.test(message);
}

/**
 * A failure of a request to PostgreSQL as a `WalError` whose message says what to do: `LOCK_TIMEOUT`
 * for a writer lock not granted in time, `IO_ERROR` for everything else (an unreachable server, a
 * refused login, missing rights). `what` says what was being done; `after` what it means for the caller.
 */
export function postgresError(error: unknown, what: string, server: string, after = ''): WalError {
  if (isWalError(error)) return error;
  const { code } = fieldsOf(error);
  const detail = `${describeThrown(error)}${code ? ` (${code})` : ''}`;
  const tail = after ? ` ${after}` : '';
  if (code === '55P03') return new WalError('LOCK_TIMEOUT', `${what}: another process (or host) held the log's writer lock for longer than lockTimeoutMs: a long transaction on memmapfs_wal_logs, or a slow recovery at its open.${tail} Raise lockTimeoutMs if such waits are expected.`, { cause: error });
  if (isConnectionLoss(error)) {
    // (A session the server ended while it stood idle in a transaction: this process was paused, say.)
    const ended = code === '25P03' || code === '57P05' || /not queryable/i.test(detail) ? ' PostgreSQL may have ended this session: a transaction of it left idle longer than idleInTransactionTimeoutMs (this process paused or starved), a restart, or an administrator.' : '';
    return new WalError('IO_ERROR', `${what}: cannot reach PostgreSQL (${detail}). Is PostgreSQL running at ${server}, and does it accept connections from this host?${ended}${tail}`, { cause: error });
  }
  if (code === '28P01' || code === '28000') return new WalError('IO_ERROR', `${what}: PostgreSQL at ${server} refused the login: ${detail}. Check the user and password in the connection string.`, { cause: error });
  if (code === '3D000') return new WalError('IO_ERROR', `${what}: ${detail}. Create the database first (e.g. \`createdb\`), or name an existing one in the connection string.`, { cause: error });
  if (code === '42501') return new WalError('IO_ERROR', `${what}: ${detail}. The user of the connection string needs the rights to create and write the memmapfs_wal_* tables (or SELECT on them to open read-only).`, { cause: error });
  return new WalError('IO_ERROR', `${what}: PostgreSQL at ${server} answered: ${detail}.${tail}`, { cause: error });
}

/** The `code` and `message` of what was thrown, when they are text; read without throwing (a revoked Proxy would). */
function fieldsOf(error: unknown): { code?: string; message?: string } {
  try {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
  } catch {
    return {};
  }
}
