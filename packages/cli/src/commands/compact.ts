import type { CompactionReport, CompactionStep } from '@memmapfs/core';
import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';

/** `memmapfs compact [--erase]`: rewrites mostly-dead chunk files and drops the log before a checkpoint. */
export const compactCommand: Command = {
  path: ['compact'],
  summary: 'Reclaim the space of deleted, replaced and expired memories (the store stays in use meanwhile)',
  arguments: [],
  options: {
    erase: { type: 'boolean', description: 'Rewrite every file holding anything deleted, so that it is in no file of the store afterwards' },
  },
  examples: [
    'memmapfs compact',
    'memmapfs compact --erase',
  ],
  store: 'existing',
  prepare(args) {
    const erase = args.options.erase === true;
    return async (store, output) => {
      // A bar for each step, as it begins.
      let step: CompactionStep | undefined;
      let progress: ReturnType<typeof output.progress> | undefined;
      const onProgress = (done: number, total: number, now: CompactionStep) => {
        if (now !== step) {
          progress?.end();
          step = now;
          progress = output.progress('compact', stepUnits[now]);
        }
        progress!.update(done, total);
      };
      const report = await store.compact({ erase, onProgress }).finally(() => progress?.end());
      output.result(report, () => reportLines(report));
      if (report.erased === false) throw new CommandFailure('ERASE_INCOMPLETE', eraseIncomplete(report));
    };
  },
};

/**
 * What a `compact({ erase: true })` that could not erase everything left, and what to do: one line,
 * for a failure (exit code 1), as a script that erases must not take it for done.
 */
export function eraseIncomplete(report: CompactionReport): string {
  const left: string[] = [];
  if (report.chunksSkipped > 0) left.push(`${report.chunksSkipped} chunk file${report.chunksSkipped === 1 ? '' : 's'} another process appends to`);
  if (report.indexFilesLeft > 0) left.push(`${report.indexFilesLeft} search index file${report.indexFilesLeft === 1 ? '' : 's'} (another process still reads ${report.indexFilesLeft === 1 ? 'it' : 'them'}, or ${report.indexFilesLeft === 1 ? 'it' : 'they'} could not be removed)`);
  if (left.length === 0) left.push(`the log from record ${report.logFirstLsn}, which another process still reads`);
  return `not everything deleted was erased: some of it may still be in ${left.join(' and ')}. Run 'memmapfs compact --erase' again once the other processes have caught up (a second or two when they are idle) or closed`;
}

/** What each step's bar counts. */
const stepUnits: Record<CompactionStep, string> = { blocks: 'live blocks', checkpoint: 'checkpoint rows', index: 'search index' };

function reportLines(report: CompactionReport): string[] {
  const lines = [`rewrote ${report.chunksRewritten} chunk file${report.chunksRewritten === 1 ? '' : 's'} (${report.blocksMoved} live blocks moved): ${megabytes(report.chunkBytesBefore)} -> ${megabytes(report.chunkBytesAfter)}`];
  if (report.indexBytesBefore > 0) lines.push(`search index: ${megabytes(report.indexBytesBefore)} -> ${megabytes(report.indexBytesAfter)}`);
  if (report.expiredDeleted > 0) lines.push(`deleted ${report.expiredDeleted} expired memor${report.expiredDeleted === 1 ? 'y' : 'ies'}`);
  if (report.chunksSkipped > 0) lines.push(`left ${report.chunksSkipped} chunk file${report.chunksSkipped === 1 ? '' : 's'} another process is appending to; run compact again once it has closed`);
  if (report.indexFilesLeft > 0) lines.push(`left ${report.indexFilesLeft} search index file${report.indexFilesLeft === 1 ? '' : 's'} (another process still reads ${report.indexFilesLeft === 1 ? 'it' : 'them'}, or ${report.indexFilesLeft === 1 ? 'it' : 'they'} could not be removed); a later erase removes ${report.indexFilesLeft === 1 ? 'it' : 'them'}`);
  lines.push(`the log now begins at record ${report.logFirstLsn}`);
  return lines;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
