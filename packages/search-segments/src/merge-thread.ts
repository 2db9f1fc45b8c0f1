import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MergeJob } from './merge-job.js';

/** What the merge thread answers a job with. */
export type MergeAnswer = { readonly bytes: ArrayBuffer } | { readonly error: string };

/** The merge thread could not run a job (it is closed, did not start, or exited): run it on the main thread. */
export class MergeThreadLost extends Error {
  override readonly name = 'MergeThreadLost';
}

/** How long the thread waits for the next job before it ends (its heap and mappings go with it). */
const IDLE_MS = 5_000;

/**
 * A worker thread that merges search segments, so that a long merge does not hold the event loop the
 * store's writes and queries use (on the main thread, even in slices, each durable commit could wait a
 * slice for its turn). Started at the first job, ended after `IDLE_MS` without one and on `close`.
 * Unavailable when its script is missing, as when the package runs from its TypeScript sources, or
 * after a thread failed before it answered: merges then run on the main thread.
 */
export class MergeThread {
  private worker: Worker | undefined;
  private pending: { resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private answered = false;
  private unusable: boolean;
  private closed = false;

  /** `execArgv`: the thread's Node options (by default the process's). */
  constructor(
    private readonly script: URL,
    private readonly options: { readonly execArgv?: string[] } = {},
  ) {
    this.unusable = !existsSync(fileURLToPath(script));
  }

  /** Whether a job given now would go to the thread. */
  get available(): boolean {
    return !this.unusable && !this.closed;
  }

  /**
   * Runs `job` on the thread: the merged segment's bytes. Rejects with the merge's own error (an input
   * damaged, say) as an `Error`, or with `MergeThreadLost` when the thread could not run it. One job at
   * a time.
   */
  run(job: MergeJob): Promise<Buffer> {
    if (!this.available) return Promise.reject(new MergeThreadLost('the merge thread is not available'));
    if (this.pending) return Promise.reject(new Error('a merge is already running on the merge thread'));
    clearTimeout(this.idleTimer);
    let worker: Worker;
    try {
      worker = this.worker ?? this.start();
    } catch (error) {
      this.unusable = true;
      return Promise.reject(new MergeThreadLost(`the merge thread did not start: ${(error as Error)?.message ?? error}`));
    }
    // (Held open while it works, as a merge in slices on the main thread holds the event loop.)
    worker.ref();
    return new Promise<Buffer>((resolve, reject) => {
      this.pending = { resolve, reject };
      worker.postMessage(job);
    });
  }

  /** Ends the thread; a job under way rejects with `MergeThreadLost`. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.settle(new MergeThreadLost('the store is closing'));
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = new Worker(this.script, this.options.execArgv ? { execArgv: this.options.execArgv } : {});
    this.worker = worker;
    worker.unref();
    worker.on('message', (answer: MergeAnswer) => {
      this.answered = true;
      this.settle('bytes' in answer ? Buffer.from(answer.bytes) : new Error(answer.error));
    });
    worker.on('error', (error) => {
      // (A thread that never answered will not: its script does not load here. Merges stay on the main thread.)
      if (!this.answered) this.unusable = true;
      if (this.worker === worker) this.worker = undefined;
      this.settle(new MergeThreadLost(`the merge thread failed: ${error.message}`));
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.settle(new MergeThreadLost(`the merge thread exited (code ${code})`));
    });
    return worker;
  }

  private settle(outcome: Buffer | Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.worker?.unref();
    if (this.worker && !this.closed) {
      const worker = this.worker;
      this.idleTimer = setTimeout(() => {
        if (this.worker === worker && !this.pending) {
          this.worker = undefined;
          void worker.terminate();
        }
      }, IDLE_MS);
      this.idleTimer.unref();
    }
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }
}
