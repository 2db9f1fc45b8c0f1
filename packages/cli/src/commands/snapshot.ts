import type { Command } from '../command.js';

/**
 * `memmapfs snapshot` (with `--postgres`): keeps a checkpoint of the store, with every block it
 * references, with the shared log, as the snapshot a new host starts from; the log then drops the
 * records the snapshot before it covers.
 */
export const snapshotCommand: Command = {
  path: ['snapshot'],
  summary: 'With --postgres: keep a snapshot with the shared log for new hosts to start from, and drop the history before the one kept last',
  arguments: [],
  options: {},
  examples: [
    'memmapfs --postgres postgresql://agent@db/agents --store team snapshot',
  ],
  store: 'existing',
  prepare() {
    return async (store, output) => {
      const kept = await store.publishSnapshot();
      output.result(kept ?? { kept: false }, () => kept
        ? [`kept the snapshot of record ${kept.lsn} (${(kept.bytes / 1024 / 1024).toFixed(2)} MiB) with the shared log`]
        : ['the shared log keeps a newer snapshot already: nothing to do']);
    };
  },
};
