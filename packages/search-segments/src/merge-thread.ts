import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MergeJob } from './merge-job.js';

/** What the merge thread is sent: a job, numbered. */
export interface MergeRequest {
  readonly id: number;
  readonly job: MergeJob;
}

/** What the merge thread answers the job numbered `id` with. */
export type MergeAnswer = { readonly id: number } & ({ readonly bytes: ArrayBuffer } | { readonly error: string });

/** The merge thread could not run a job (it is closed, did not start, or exited): run it on the main thread. */
export class MergeThreadLost extends Error {
  override readonly name = 'MergeThreadLost';
}

/** How long the thread waits for the next job before it ends (its heap and mappings go with it). */
const IDLE_MS = 5_000;

interface PendingJob {
  readonly id: number;
  /** The thread it was sent to: only that thread's answer, or its end, settles it. */
  readonly worker: Worker;
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: Error) => void;
}

/**
 * A worker thread that merges search segments, so that a long merge does not hold the event loop the
 * store's writes and queries use (on the main thread, even in slices, each durable commit could wait a
 * slice for its turn). Started at the first job, ended after `idleMs` without one and on `close`.
 * Unavailable when its script is missing, as when the package runs from its TypeScript sources, or
 * after a thread failed before it answered: merges then run on the main thread.
 */
export class MergeThread {
  private worker: Worker | undefined;
  private pending: PendingJob | undefined;
  private lastJob = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Threads told to end and not yet ended (`close` waits for them). */
  private readonly ending = new Set<Promise<number>>();
  private answered = false;
  private unusable: boolean;
  private closed = false;
  private readonly script: URL | undefined;
  private readonly execArgv: string[];
  private readonly idleMs: number;

  /**
   * `script`: the thread's module, a `file:` URL (anything else, or a file not there, leaves the thread
   * unavailable). `execArgv`: the thread's Node options, none by default (a process's `--import` or
   * `--require` hooks are not run again in it). `idleMs`: how long it waits for a job before it ends.
   */
  constructor(script: URL | string, options: { readonly execArgv?: string[]; readonly idleMs?: number } = {}) {
    let path: string | undefined;
    try {
      path = fileURLToPath(script);
    } catch {
      // (A bundle that moved the package's code, say: no thread.)
    }
    this.script = path !== undefined && existsSync(path) ? new URL(script) : undefined;
    this.unusable = this.script === undefined;
    this.execArgv = options.execArgv ?? [];
    this.idleMs = options.idleMs ?? IDLE_MS;
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
    const id = ++this.lastJob;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending = { id, worker, resolve, reject };
      worker.postMessage({ id, job } satisfies MergeRequest);
    });
  }

  /** Ends the thread; a job under way rejects with `MergeThreadLost`. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (this.pending) this.settle(this.pending.worker, this.pending.id, new MergeThreadLost('the store is closing'));
    if (worker) this.end(worker);
    await Promise.all(this.ending);
  }

  private start(): Worker {
    const worker = new Worker(this.script!, { execArgv: this.execArgv });
    this.worker = worker;
    worker.unref();
    worker.on('message', (answer: MergeAnswer) => {
      this.answered = true;
      this.settle(worker, answer.id, 'bytes' in answer ? Buffer.from(answer.bytes) : new Error(answer.error));
    });
    worker.on('error', (error) => {
      // (A thread that never answered will not: its script does not load here. Merges stay on the main thread.)
      if (!this.answered) this.unusable = true;
      this.lost(worker, new MergeThreadLost(`the merge thread failed: ${error.message}`));
    });
    worker.on('exit', (code) => this.lost(worker, new MergeThreadLost(`the merge thread exited (code ${code})`)));
    return worker;
  }

  /** `worker` is gone: the job it had, if any, is lost, and the next job starts another thread. */
  private lost(worker: Worker, error: MergeThreadLost): void {
    if (this.worker === worker) this.worker = undefined;
    if (this.pending?.worker === worker) this.settle(worker, this.pending.id, error);
  }

  private end(worker: Worker): void {
    const ended = worker.terminate().catch(() => 0);
    this.ending.add(ended);
    void ended.finally(() => this.ending.delete(ended));
  }

  /** Settles job `id` of `worker` with `outcome`, if it is the job pending (an answer to none other counts). */
  private settle(worker: Worker, id: number, outcome: Buffer | Error): void {
    const pending = this.pending;
    if (!pending || pending.worker !== worker || pending.id !== id) return;
    this.pending = undefined;
    worker.unref();
    if (this.worker === worker && !this.closed) {
      this.idleTimer = setTimeout(() => {
        if (this.worker === worker && !this.pending) {
          this.worker = undefined;
          this.end(worker);
        }
      }, this.idleMs);
      this.idleTimer.unref();
    }
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }
}
