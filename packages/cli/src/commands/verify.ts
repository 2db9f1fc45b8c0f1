import { verifyStore } from '@memmapfs/core';
import type { ClosedStoreCommand } from '../command.js';
import { checkCodec, damagedFailure, reportLines } from './check-report.js';

/** `memmapfs verify`: checks every WAL record and live block, read-only; exit code 1 when there are errors. */
export const verifyCommand: ClosedStoreCommand = {
  path: ['verify'],
  summary: "Check the store's log and blocks without changing anything (exit code 1 on errors)",
  arguments: [],
  options: {},
  examples: [
    'memmapfs verify',
    'memmapfs verify --json | jq .problems',
  ],
  store: 'closed',
  localFiles: true,
  prepare: () => async (output, context) => {
    const progress = output.progress('verify', 'blocks');
    const report = await verifyStore(context.root, {
      ...(await checkCodec(context.globals)),
      onProgress: (done, total) => progress.update(done, total),
    }).finally(() => progress.end());
    output.result(report, () => reportLines(report));
    if (!report.ok) throw damagedFailure(report);
  },
};
