import type { FailureReport } from './failures.js';

/** Where the CLI writes text: `process.stdout`, `process.stderr`, or a capture in tests. */
export interface TextSink {
  write(chunk: string): unknown;
  /** True for a terminal; then `columns` bounds the width of one-line listings. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Characters of memory text shown on one line when stdout is not a terminal. */
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

  /** Writes a question to stderr, leaving the cursor after it; never with `--json`. */
  prompt(question: string): void {
    if (!this.json) this.stderr.write(question);
  }

  /**
   * A progress line on stderr, rewritten in place. It shows only when stderr is a terminal and
   * without `--json`; otherwise its methods do nothing, so stdout and piped stderr stay clean.
   */
  progress(): Progress {
    return new Progress(this.json || !this.stderr.isTTY ? undefined : this.stderr);
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
   * stdout is not a terminal, with `text` cut to `listingTextLength` characters.
   */
  listingLine(prefix: string, text: string): string {
    const flat = text.replace(/\s+/g, ' ').trim();
    const width = this.terminalWidth;
    return width === undefined ? prefix + truncate(flat, listingTextLength) : truncate(prefix + flat, width);
  }
}

/** Milliseconds between two redraws of a progress line. */
export const progressInterval = 100;

/** A line of progress on a terminal: `update` redraws it (at most every `progressInterval` ms), `end` erases it. */
export class Progress {
  private shown = false;
  private last = 0;

  constructor(private readonly sink: TextSink | undefined) {}

  /** Shows `text` in place of the previous one; the first update always shows. */
  update(text: string): void {
    if (!this.sink) return;
    const now = Date.now();
    if (this.shown && now - this.last < progressInterval) return;
    this.sink.write(`\r${text}\x1b[K`);
    this.shown = true;
    this.last = now;
  }

  /** Erases the line, if anything was shown, so what follows starts at the left margin. */
  end(): void {
    if (!this.sink || !this.shown) return;
    this.sink.write('\r\x1b[K');
    this.shown = false;
  }
}

/** `text` cut to at most `max` characters (code points), ending with `…` when cut. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** `key: value` lines of an object's fields; strings as they are, anything else as JSON. */
export function keyValueLines(record: object): string[] {
  return Object.entries(record).map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}
