import { createInterface } from 'node:readline';
import { repairStore, verifyStore, type RepairReport, type StoreProblem } from '@memmapfs/core';
import type { ClosedStoreCommand, InputStream } from '../command.js';
import { CommandFailure, UsageError } from '../failures.js';
import { checkCodec, damagedFailure, problemLine, reportLines } from './check-report.js';

/**
 * `memmapfs repair [--yes] [--no-resync] [--salvage]`: makes a damaged store open again (core's
 * `repairStore`), keeping the intact records after damage in the log unless `--no-resync`, and with
 * `--salvage` writing a damaged checkpoint it would keep again without its damaged rows. Without
 * `--yes` it verifies first and, when there is something to repair, asks at a terminal or refuses elsewhere.
 */
export const repairCommand: ClosedStoreCommand = {
  path: ['repair'],
  summary: 'Repair a damaged store, keeping the intact records around damage and backing up the original; only while no process has the store open',
  arguments: [],
  options: {
    yes: { type: 'boolean', short: 'y', description: "Repair without asking (needed when stdin is not a terminal, or with --json)" },
    'no-resync': { type: 'boolean', description: 'Cut the log at the first damage instead of keeping the intact commits after it (records keep their LSNs either way)' },
    salvage: { type: 'boolean', description: 'Write a damaged checkpoint that is the only copy of what it holds again, keeping every row that reads back whole and dropping the memories of the others (the original is backed up)' },
  },
  examples: [
    'memmapfs repair',
    'memmapfs repair --yes --json | jq .after.ok      # in a script',
    'memmapfs repair --yes --no-resync                # keep only the records before the first damage',
    'memmapfs repair --salvage                        # also rewrite a damaged checkpoint without its damaged rows',
  ],
  store: 'closed',
  localFiles: true,
  prepare(args) {
    const confirmed = args.options.yes === true;
    const resync = args.options['no-resync'] !== true;
    const salvage = args.options.salvage === true;
    return async (output, context) => {
      const options = await checkCodec(context.globals);
      if (!confirmed) {
        const report = await verifyStore(context.root, options);
        const repairable = report.problems.filter((problem) => problem.repairable || (salvage && problem.salvageable === true));
        if (repairable.some(changesData)) {
          const stdin = context.stdin();
          if (output.json || !stdin.isTTY) {
            throw new UsageError(
              `repair would change the store at ${report.root} (${repairable.length} repairable problem${repairable.length === 1 ? '' : 's'}; 'memmapfs verify' lists them): ` +
                'pass --yes to repair, once no process has the store open',
              'repair',
            );
          }
          const unrepairable = report.problems.filter((problem) => !repairable.includes(problem));
          output.note([
            'repair would fix:',
            ...repairable.map((problem) => `  ${problemLine(problem)}`),
            ...(unrepairable.length > 0 ? ['repair cannot fix:', ...unrepairable.map((problem) => `  ${problemLine(problem)}`)] : []),
            resync
              ? 'It copies state.wal to a repair-backup-<time> folder in the store, then keeps the records before each damaged region and the intact commits after it (records lost are listed), and removes the saved search index; a checkpoint it removes is moved into that folder.'
              : 'It copies state.wal to a repair-backup-<time> folder in the store before cutting it at the first damage, and removes the saved search index; a checkpoint it removes is moved into that folder.',
            ...(salvage && repairable.some((problem) => problem.salvageable === true)
              ? ['It copies the damaged checkpoint there too, then writes it again without the rows that do not read back whole: the memories they held are lost.']
              : []),
            'Run it only while no process has the store open.',
          ]);
          output.prompt(`Repair the store at ${report.root}? [y/N] `);
          const answer = await confirm(stdin);
          if (answer === undefined) output.note(['']);
          if (answer !== true) throw new CommandFailure('REPAIR_CANCELLED', 'repair cancelled; nothing was changed');
        }
      }
      const report = await repairStore(context.root, { ...options, resync, salvage });
      output.result(report, () => repairLines(report));
      if (!report.after.ok) throw damagedFailure(report.after, true);
    };
  },
};

/**
 * Whether fixing `problem` (one repair fixes) changes the log, the blocks or a checkpoint, which needs
 * confirmation. A damaged search snapshot or segment file does not: it is derived data that opening
 * the store rebuilds.
 */
const changesData = (problem: StoreProblem): boolean => problem.kind !== 'search-snapshot-unusable' && problem.kind !== 'search-index-damaged';

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
