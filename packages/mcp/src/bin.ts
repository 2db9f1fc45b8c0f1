#!/usr/bin/env node
import { runMcpCommand } from './command-line.js';

/** Aborted on SIGINT or SIGTERM: the session ends, the store is closed, the process exits 0. A second signal ends it at once. */
const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stop.abort();
    process.once(signal, () => process.kill(process.pid, signal));
  });
}
// A client that goes away closes the pipe: EPIPE on stdout ends the session like the end of stdin.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stop.abort();
});
const exitCode = await runMcpCommand(process.argv.slice(2), { signal: stop.signal });
process.exitCode = exitCode;
// Exits once what was written is out (the callbacks of these empty writes come after every earlier
// write is, however slow the reader), rather than when nothing is left to do: a request for the writer
// lock that timed out (LOCK_TIMEOUT) stays with the kernel, which cannot call it off, and would keep
// the process alive until the holder lets go.
process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
