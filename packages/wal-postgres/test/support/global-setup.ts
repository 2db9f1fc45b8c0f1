import { rm } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { INSTALL_ADVICE, findPostgresBin, initTemplate, startServer, type TestPostgres } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The PostgreSQL of this run, or `null` when its programs are not installed (the tests skip). */
    postgres: TestPostgres | null;
  }
}

/**
 * Starts one throwaway PostgreSQL for the whole run of this package's tests (initdb into a temporary
 * folder, pg_ctl start on a Unix socket there) and stops it afterwards. Where PostgreSQL is not
 * installed, the tests are skipped, and this says once how to install it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = findPostgresBin();
  if (!bin) {
    console.warn(`\n[memmapfs] [wal-postgres] ${INSTALL_ADVICE}\n`);
    project.provide('postgres', null);
    return async () => undefined;
  }
  const template = await initTemplate(bin);
  const server = await startServer(bin, template);
  project.provide('postgres', { connectionString: server.connectionString, bin, template });
  return async () => {
    await server.remove();
    await rm(template, { recursive: true, force: true });
  };
}
