import type { StoreCheckOptions, StoreProblem, VerifyReport } from '@memmapfs/core';
import { codecs } from '../adapters.js';
import type { GlobalOptions } from '../arguments.js';
import { CommandFailure } from '../failures.js';

/** The code of the failure `verify` and `repair` end with when the store still has errors. */
export const storeDamaged = 'STORE_DAMAGED';

/**
 * The codec to check with: the `--codec` instance when given, else none, so that core reads the
 * name in the WAL header and resolves it among the adapters the CLI registered.
 */
export async function checkCodec(globals: GlobalOptions): Promise<StoreCheckOptions> {
  return globals.codec === undefined ? {} : { codec: await codecs[globals.codec]() };
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** `error  wal-damaged  Record 5 at byte …`: one problem on one line. */
export function problemLine(problem: StoreProblem): string {
  return `${problem.severity}  ${problem.kind}  ${problem.message.replace(/\s*\n\s*/g, ' ')}`;
}

/** The number of problems of severity `'error'`. */
export function errorCount(report: VerifyReport): number {
  return report.problems.filter((problem) => problem.severity === 'error').length;
}

/** `ok: N records, M blocks checked`, or `N problems (K errors); N records, M blocks checked`. */
export function summaryLine(report: VerifyReport): string {
  const checked = `${plural(report.records, 'record')}, ${plural(report.blocksChecked, 'block')} checked`;
  if (report.problems.length === 0) return `ok: ${checked}`;
  return `${plural(report.problems.length, 'problem')} (${plural(errorCount(report), 'error')}); ${checked}`;
}

/** The problem lines of a report, then its summary line. */
export function reportLines(report: VerifyReport): string[] {
  return [...report.problems.map(problemLine), summaryLine(report)];
}

/** The failure `verify` ends with, or `repair` (`afterRepair`), when `report` has errors: exit code 1. */
export function damagedFailure(report: VerifyReport, afterRepair = false): CommandFailure {
  const errors = report.problems.filter((problem) => problem.severity === 'error');
  const repairable = errors.filter((problem) => problem.repairable).length;
  const count = plural(errors.length, 'error');
  if (afterRepair) return new CommandFailure(storeDamaged, `the store at ${report.root} still has ${count} after repair`);
  const them = errors.length === 1 ? 'it' : 'them';
  const hint = repairable === errors.length ? `can fix ${them}` : repairable === 0 ? `cannot fix ${them}` : `can fix ${repairable} of them`;
  return new CommandFailure(storeDamaged, `the store at ${report.root} has ${count}; 'memmapfs repair' ${hint}`);
}
