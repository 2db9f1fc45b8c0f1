import { RecordType, type LogRecord } from './log-records.js';

/**
 * The changes waiting to be indexed, oldest first: taken off the front a few dozen at a time while a bulk
 * load may have queued tens of thousands, so without moving the rest each time (`splice(0, n)` did).
 */
export class ChangeQueue {
  private items: LogRecord[] = [];
  /** Whether each change (by its place in `items`) is this process's own. */
  private owns: boolean[] = [];
  private head = 0;
  /** This process's own changes pushed, and taken off, since the queue was made. */
  ownPushed = 0;
  ownDropped = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** This process's own changes waiting. */
  get ownWaiting(): number {
    return this.ownPushed - this.ownDropped;
  }

  push(record: LogRecord, own: boolean): void {
    this.items.push(record);
    this.owns.push(own);
    if (own) this.ownPushed++;
  }

  /** The waiting memory changes let go of their block copies. */
  dropCopies(): void {
    for (let i = this.head; i < this.items.length; i++) {
      const record = this.items[i]!;
      if (record.type === RecordType.MemoryPut && record.copy) this.items[i] = { ...record, copy: undefined };
    }
  }

  /** The `i`-th waiting change (`i` < `length`). */
  at(i: number): LogRecord {
    return this.items[this.head + i]!;
  }

  /** Takes the first `count` changes off (their slots are let go of, for the collector). */
  drop(count: number): void {
    for (let i = this.head; i < this.head + count; i++) {
      this.items[i] = undefined as unknown as LogRecord;
      if (this.owns[i]) this.ownDropped++;
    }
    this.head += count;
    if (this.head === this.items.length) {
      this.items = [];
      this.owns = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.owns = this.owns.slice(this.head);
      this.head = 0;
    }
  }
}
