import { describe, expect, it } from 'vitest';
import { isConnectionLoss, postgresError } from '../src/postgres-errors.js';

describe('a failure of a request to PostgreSQL, as the log says it', () => {
  it('names a session the server ended (a transaction idle past idleInTransactionTimeoutMs) apart from a server that cannot be reached', () => {
    const ended = postgresError(new Error('Client has encountered a connection error and is not queryable'), 'Appending to the log', 'db:5432/memories');
    expect(ended).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('idleInTransactionTimeoutMs') });
    const refused = postgresError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'Appending to the log', 'db:5432/memories');
    expect(refused.code).toBe('IO_ERROR');
    expect(refused.message).toContain('Is PostgreSQL running at db:5432/memories');
    expect(refused.message).not.toContain('idleInTransactionTimeoutMs');
  });

  it("takes the server's own reply that it is ending the session (an idle timeout, FATAL) for a lost connection: the client is not handed back to the pool", () => {
    const fatal = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });
    const idleInTransaction = fatal('25P03', 'terminating connection due to idle-in-transaction timeout');
    const idleSession = fatal('57P05', 'terminating connection due to idle-session timeout');
    expect(isConnectionLoss(idleInTransaction)).toBe(true);
    expect(isConnectionLoss(idleSession)).toBe(true);
    expect(postgresError(idleInTransaction, 'Appending to the log', 'db:5432/memories').message).toContain('idleInTransactionTimeoutMs');
    expect(postgresError(idleSession, 'Appending to the log', 'db:5432/memories').message).toContain('PostgreSQL may have ended this session');
    // A refused login is FATAL too, and is not a lost connection.
    expect(isConnectionLoss(fatal('28P01', 'password authentication failed for user "agent"'))).toBe(false);
  });
});
