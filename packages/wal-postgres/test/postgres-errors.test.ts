import { describe, expect, it } from 'vitest';
import { postgresError } from '../src/postgres-errors.js';

describe('a failure of a request to PostgreSQL, as the log says it', () => {
  it('names a session the server ended (a transaction idle past idleInTransactionTimeoutMs) apart from a server that cannot be reached', () => {
    const ended = postgresError(new Error('Client has encountered a connection error and is not queryable'), 'Appending to the log', 'db:5432/memories');
    expect(ended).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('idleInTransactionTimeoutMs') });
    const refused = postgresError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'Appending to the log', 'db:5432/memories');
    expect(refused.code).toBe('IO_ERROR');
    expect(refused.message).toContain('Is PostgreSQL running at db:5432/memories');
    expect(refused.message).not.toContain('idleInTransactionTimeoutMs');
  });
});
