import { createInterface } from 'node:readline';
import { repairStore, verifyStore, type RepairReport, type StoreProblem } from '@memmapfs/core';
import type { ClosedStoreCommand, InputStream } from '../command.js';
import { CommandFailure, UsageError } from '../failures.js';
import { checkCodec, damagedFailure, problemLine, reportLines } from './check-report.js';

/**
 * `memmapfs repair [--yes] [--no-resync]`: makes a damaged store open again (core's `repairStore`),
 * keeping the intact records after damage in the log unless `--no-resync`. Without `--yes` it verifies
 * first and, when there is something to repair, asks at a terminal or refuses elsewhere.
 */
export const repairCommand: ClosedStoreCommand = {
  path: ['repair'],
  summary: 'Repair a damaged store, keeping the intact records around damage and backing up the original; only while no process has the store open',
  arguments: [],
  options: {
    yes: { type: 'boolean', short: 'y', description: "Repair without asking (needed when stdin is not a terminal, or with --json)" },
    'no-resync': { type: 'boolean', description: 'Cut the log at the first damage instead of keeping the intact commits after it (records keep their LSNs either way)' },
  },
  examples: [
    'memmapfs repair',
    'memmapfs repair --yes --json | jq .after.ok      # in a script',
    'memmapfs repair --yes --no-resync                # keep only the records before the first damage',
  ],
  store: 'closed',
  localFiles: true,
  prepare(args) {
    const confirmed = args.options.yes === true;
    const resync = args.options['no-resync'] !== true;
    return async (output, context) => {
      const options = await checkCodec(context.globals);
      if (!confirmed) {
        const report = await verifyStore(context.root, options);
        const repairable = report.problems.filter((problem) => problem.repairable);
        if (repairable.some(changesData)) {
          const stdin = context.stdin();
          if (output.json || !stdin.isTTY) {
            throw new UsageError(
              `repair would change the store at ${report.root} (${repairable.length} repairable problem${repairable.length === 1 ? '' : 's'}; 'memmapfs verify' lists them): ` +
                'pass --yes to repair, once no process has the store open',
              'repair',
            );
          }
          const unrepairable = report.problems.filter((problem) => !problem.repairable);
          output.note([
            'repair would fix:',
            ...repairable.map((problem) => `  ${problemLine(problem)}`),
            ...(unrepairable.length > 0 ? ['repair cannot fix:', ...unrepairable.map((problem) => `  ${problemLine(problem)}`)] : []),
            resync
              ? 'It copies state.wal to a repair-backup-<time> folder in the store, then keeps the records before each damaged region and the intact commits after it (records lost are listed), and removes the saved search index.'
              : 'It copies state.wal to a repair-backup-<time> folder in the store before cutting it at the first damage, and removes the saved search index.',
            'Run it only while no process has the store open.',
          ]);
          output.prompt(`Repair the store at ${report.root}? [y/N] `);
          const answer = await confirm(stdin);
          if (answer === undefined) output.note(['']);
          if (answer !== true) throw new CommandFailure('REPAIR_CANCELLED', 'repair cancelled; nothing was changed');
        }
      }
      const report = await repairStore(context.root, { ...options, resync });
      output.result(report, () => repairLines(report));
      if (!report.after.ok) throw damagedFailure(report.after, true);
    };
  },
};

/**
 * Whether fixing `problem` changes the log or the blocks, which needs confirmation. A damaged search
 * snapshot or segment file does not: it is derived data that opening the store rebuilds.
 */
const changesData = (problem: StoreProblem): boolean => problem.repairable && problem.kind !== 'search-snapshot-unusable' && problem.kind !== 'search-index-damaged';

function repairLines(report: RepairReport): string[] {
  return [
    ...(report.actions.length > 0 ? report.actions : ['nothing to repair']),
    ...(report.backup !== undefined ? [`backup: ${report.backup}`] : []),
    ...reportLines(report.after).map((line, i, lines) => (i === lines.length - 1 ? `after: ${line}` : line)),
  ];
}

/** Reads one line from a terminal: true for `y` or `yes`, in any case; false for anything else; undefined at the end of input. */
async function confirm(stdin: InputStream): Promise<boolean | undefined> {
  const lines = createInterface({ input: stdin, terminal: false, crlfDelay: Infinity });
  try {
    for await (const line of lines) return /^\s*y(es)?\s*$/i.test(line);
    return undefined;
  } finally {
    lines.close();
  }
}
