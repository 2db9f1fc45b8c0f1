import { once } from 'node:events';
import type { FailureReport } from './failures.js';
import { loadDisplayWidth, measurableWithoutLoading, truncateToWidth } from './terminal/display-width.js';
import { hiddenProgress, terminalProgress, type ProgressBar } from './terminal/progress-bar.js';
import { toTaggedJson } from './json-value.js';

/** Where the CLI writes text: `process.stdout`, `process.stderr`, or a capture in tests. */
export interface TextSink {
  /** Text; or bytes, which only `stream read` writes, to stdout. */
  write(chunk: string | Uint8Array): unknown;
  /** True for a terminal; then `columns` bounds the width of one-line listings. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Terminal columns of memory text shown on one line when stdout is not a terminal. */
export const listingTextLength = 100;

/**
 * Writes results to stdout and failures to stderr, as text for people or, with `--json`, as one JSON
 * value per result and a `{"error":{"code","message"}}` object per failure.
 */
export class Output {
  constructor(private readonly stdout: TextSink, private readonly stderr: TextSink, readonly json: boolean) {}

  /** Width of the terminal, or `undefined` when stdout is not one. */
  get terminalWidth(): number | undefined {
    return this.stdout.isTTY && this.stdout.columns ? this.stdout.columns : undefined;
  }

  /** Writes a command's result: `value` as JSON with `--json`, else the lines `describe` returns. */
  result(value: unknown, describe: () => readonly string[]): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify(value)}\n`);
      return;
    }
    for (const line of describe()) this.stdout.write(`${line}\n`);
  }

  /** Writes bytes to stdout as they are (`stream read`), waiting while a slow reader catches up. */
  async bytes(chunk: Uint8Array): Promise<void> {
    await this.stream(chunk);
  }

  /**
   * Writes a piece of a long output (`export` to stdout) as it is, and waits while stdout's buffer is
   * full (`drain`), so that a slow reader does not make the process hold the whole output in memory.
   */
  async stream(chunk: string | Uint8Array): Promise<void> {
    const sink = this.stdout as TextSink & Partial<Pick<NodeJS.WritableStream, 'once'>>;
    if (sink.write(chunk) === false && typeof sink.once === 'function') await once(sink as NodeJS.WritableStream, 'drain');
  }

  /** Writes help or the version: plain text, with or without `--json`. */
  text(text: string): void {
    this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /**
   * Writes lines for the person at the terminal to stderr, such as a question's context; never with
   * `--json`, whose stderr carries failures only.
   */
  note(lines: readonly string[]): void {
    if (this.json) return;
    for (const line of lines) this.stderr.write(`${line}\n`);
  }

  /** Writes a warning to stderr, the command going on: `memmapfs: warning: <message> (<code>)`, or a JSON warning object. */
  warning(code: string, message: string): void {
    this.stderr.write(this.json ? `${JSON.stringify({ warning: { code, message } })}\n` : `memmapfs: warning: ${message} (${code})\n`);
  }

  /** Writes a question to stderr, leaving the cursor after it; never with `--json`. */
  prompt(question: string): void {
    if (!this.json) this.stderr.write(question);
  }

  /**
   * A progress bar on stderr (`label [███░░] 42% | 420/1000 unit | 96/s | ETA 6s`), redrawn in place.
   * It shows only when stderr is a terminal and without `--json`; otherwise it does nothing, so stdout
   * and piped stderr stay clean.
   */
  progress(label: string, unit: string): ProgressBar {
    return this.json || !this.stderr.isTTY ? hiddenProgress : terminalProgress(this.stderr, label, unit);
  }

  /** Writes a failure to stderr: `memmapfs: <message>` with its code or help hint, or a JSON error object. */
  failure(report: FailureReport): void {
    if (this.json) {
      this.stderr.write(`${JSON.stringify({ error: { code: report.code, message: report.message } })}\n`);
      return;
    }
    const suffix = report.origin === 'usage' ? ` (run '${report.helpCommand}' for usage)` : report.origin === 'store' ? ` (${report.code})` : '';
    this.stderr.write(`memmapfs: ${report.message}${suffix}\n`);
  }

  /**
   * One listing line: `prefix` then `text` on a single line, cut to the terminal width, or, when
   * stdout is not a terminal, with `text` cut to `listingTextLength` columns. Widths are display
   * widths: a CJK character or an emoji takes two columns.
   */
  listingLine(prefix: string, text: string): string {
    const flat = oneLineText(text);
    const width = this.terminalWidth;
    return width === undefined ? visibleControls(prefix) + truncateToWidth(flat, listingTextLength) : truncateToWidth(visibleControls(prefix) + flat, width);
  }

  /**
   * `listingLine` of each `[prefix, text]`, with what measures text beyond printable ASCII loaded first
   * when some needs it; none with `--json`, whose output has no listing lines.
   */
  async listingLines(entries: ReadonlyArray<readonly [prefix: string, text: string]>): Promise<string[]> {
    if (this.json) return [];
    if (!entries.every(([prefix, text]) => measurableWithoutLoading(prefix + oneLineText(text)))) await loadDisplayWidth();
    return entries.map(([prefix, text]) => this.listingLine(prefix, text));
  }
}

/** `text` on one line: each run of whitespace one space, none at the ends, control characters shown as escapes. */
function oneLineText(text: string): string {
  return visibleControls(text.replace(/\s+/g, ' ').trim());
}

/**
 * `text` with each control character (C0, DEL, C1) written as `\xHH`: a listed text or tag may come from
 * anyone, and sent to a terminal as it is, its escape sequences would drive the terminal.
 */
export function visibleControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `key: value` lines of an object's fields; strings as they are, anything else as JSON. */
export function keyValueLines(record: object): string[] {
  return Object.entries(record).map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(toTaggedJson(value))}`);
}
