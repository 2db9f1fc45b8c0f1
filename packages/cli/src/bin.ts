#!/usr/bin/env node
import { getEventListeners } from 'node:events';
// (The package's entry point, from which the CLI's code runs with V8's code cache: scripts/bundle-dist.mjs.)
import { argumentBytes, runCli } from './index.js';

/** Aborted to stop a command that runs until interrupted (`state watch`), which then closes the store and exits 0. */
const stop = new AbortController();

/**
 * SIGINT and SIGTERM abort `stop` while a command listens to it. Otherwise (any other command, or a
 * second Ctrl-C while the watch closes the store) the signal ends the process as node does by default.
 */
function stopOn(signal: NodeJS.Signals): void {
  const handler = (): void => {
    if (getEventListeners(stop.signal, 'abort').length > 0) {
      stop.abort();
      return;
    }
    process.off(signal, handler);
    process.kill(process.pid, signal);
  };
  process.on(signal, handler);
}
stopOn('SIGINT');
stopOn('SIGTERM');

// A closed stdout (`memmapfs state watch | head -1`) is no failure: the command stops, exit code 0.
// Any other failure to write it (a full disk) stops it too, and `runCli` reports it (exit code 1).
process.stdout.on('error', () => stop.abort());
// A warning (a memory left out of results as its block is damaged, say) is one line, as failures are,
// not Node's own form with its pid and a hint about --trace-warnings.
const json = process.argv.slice(2).includes('--json');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const code = (warning as Error & { code?: string }).code;
  process.stderr.write(json ? `${JSON.stringify({ warning: { code: code ?? warning.name, message: warning.message } })}\n` : `memmapfs: warning: ${warning.message.replace(/\s*\n\s*/g, ' ')}${code ? ` (${code})` : ''}\n`);
});
const args = process.argv.slice(2);
const bytes = argumentBytes(args);
const exitCode = await runCli(args, { stdout: process.stdout, stderr: process.stderr, signal: stop.signal, ...(bytes !== undefined ? { argumentBytes: bytes } : {}) });
process.exitCode = exitCode;
// Exits once what was written is out (the callbacks of these empty writes come after every earlier
// write is, however slow the reader), rather than when nothing is left to do: a request for the writer
// lock that timed out (LOCK_TIMEOUT) stays with the kernel, which cannot call it off, and would keep
// the process alive until the holder lets go.
process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
