import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';
import type { TextSink } from '../output.js';

/** cli-progress, loaded when a bar is first drawn: loading it costs about 15 ms of a command's start. */
let loaded: typeof cliProgress | undefined;
const loadCliProgress = (): typeof cliProgress => (loaded ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgress);

/** Shows how far a long command is: done of total, with the rate and the time left. */
export interface ProgressBar {
  /** Sets how much is done, and the total when it is known only now or changed. */
  update(done: number, total?: number): void;
  /** Takes the bar off the terminal, so that what follows starts at the left margin. */
  end(): void;
}

/** A bar that shows nothing: off a terminal, and with `--json`. */
export const hiddenProgress: ProgressBar = { update: () => undefined, end: () => undefined };

/**
 * A progress bar on `sink` (stderr, a terminal): `label [████░░░░] 42% | 4200/10000 unit | 1234/s | ETA 5s`,
 * redrawn at most ten times a second and erased by `end`.
 */
export function terminalProgress(sink: TextSink, label: string, unit: string): ProgressBar {
  const started = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  const rate = (done: number): string => {
    const seconds = (performance.now() - started) / 1000;
    return seconds > 0 ? String(Math.round(done / seconds)) : '0';
  };
  return {
    update(done, total) {
      if (!bar) {
        // Without a total (input from a pipe), a count and a rate, without bar or ETA.
        const format = total === undefined ? `${label} {value} ${unit} | {rate}/s` : `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`;
        const { SingleBar, Presets } = loadCliProgress();
        bar = new SingleBar(
          { stream: sink as unknown as NodeJS.WritableStream, format, barsize: 24, hideCursor: false, clearOnComplete: true, linewrap: false, fps: 10, etaBuffer: 50 },
          Presets.shades_classic,
        );
        bar.start(total ?? 0, done, { rate: rate(done) });
        return;
      }
      if (total !== undefined) bar.setTotal(total);
      bar.update(done, { rate: rate(done) });
    },
    end() {
      bar?.stop();
      bar = undefined;
    },
  };
}
