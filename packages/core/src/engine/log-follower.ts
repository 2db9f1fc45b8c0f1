import { watch, type FSWatcher } from 'node:fs';
import { describeThrown } from '@memmapfs/wal';

/** How often the commit marker is polled, in case file events are lost or unsupported. */
const POLL_INTERVAL_MS = 100;

/**
 * Notices, without being asked, that another process committed records: watches the store's folder
 * (the commit marker `state.head` is rewritten after every commit) and polls the marker as a fallback,
 * since file events can be dropped or missing (network file systems). Each notice calls `onChange`,
 * which reads the new records; a change is seen within about `POLL_INTERVAL_MS` at worst.
 */
export class LogFollower {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly folder: string, private readonly onChange: () => void) {}

  /** Starts following; calling it again does nothing. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.notify(), POLL_INTERVAL_MS);
    if (!this.keepingAlive) this.timer.unref();
    try {
      this.watcher = watch(this.folder, { persistent: false }, (_event, name) => {
        if (name === null || name === 'state.head') this.notify();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
  }

  private keepingAlive = false;

  /**
   * Whether following keeps the process alive (while someone is iterating `watchState`, as a server
   * socket would); otherwise it does not hold the process open, like an event listener.
   */
  keepAlive(on: boolean): void {
    this.keepingAlive = on;
    if (on) this.timer?.ref();
    else this.timer?.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private notify(): void {
    try {
      this.onChange();
    } catch (error) {
      // Said once, then no more following: the failure lasts (a failed log, a replaced one, damage), and
      // every read says it too.
      this.stop();
      process.emitWarning(`Following the log failed, and has stopped: ${describeThrown(error)}`, { code: 'MEMMAPFS_FOLLOW_FAILED' });
    }
  }
}
