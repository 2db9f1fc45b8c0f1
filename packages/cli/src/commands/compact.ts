import type { CompactionReport, CompactionStep } from '@memmapfs/core';
import type { Command } from '../command.js';

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
    };
  },
};

/** What each step's bar counts. */
const stepUnits: Record<CompactionStep, string> = { blocks: 'live blocks', checkpoint: 'checkpoint rows', index: 'search index' };

function reportLines(report: CompactionReport): string[] {
  const lines = [`rewrote ${report.chunksRewritten} chunk file${report.chunksRewritten === 1 ? '' : 's'} (${report.blocksMoved} live blocks moved): ${megabytes(report.chunkBytesBefore)} -> ${megabytes(report.chunkBytesAfter)}`];
  if (report.indexBytesBefore > 0) lines.push(`search index: ${megabytes(report.indexBytesBefore)} -> ${megabytes(report.indexBytesAfter)}`);
  if (report.expiredDeleted > 0) lines.push(`deleted ${report.expiredDeleted} expired memor${report.expiredDeleted === 1 ? 'y' : 'ies'}`);
  if (report.chunksSkipped > 0) lines.push(`left ${report.chunksSkipped} chunk file${report.chunksSkipped === 1 ? '' : 's'} another process is appending to; run compact again once it has closed`);
  lines.push(`the log now begins at record ${report.logFirstLsn}`);
  return lines;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
