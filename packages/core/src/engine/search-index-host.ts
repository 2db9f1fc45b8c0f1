import type { WalPosition, WriteAheadLog } from '@memmapfs/wal';
import type { StoreFileSystem } from '../types.js';
import type { LogRecord, MemoryRecord } from './log-records.js';
import type { MemoryTable } from './memory-table.js';
import type { StoreLayout } from './store-layout.js';
import type { PublishedCheckpoint } from '../checkpoint/checkpoint-store.js';

/** What the search index needs of the store: the tables it indexes, the log it follows, where it saves. */
export interface SearchIndexHost {
  readonly layout: StoreLayout;
  readonly files: StoreFileSystem;
  /** How the store reads its files: a persistent index reads its own the same way. */
  readonly reader: 'auto' | 'mmap' | 'read';
  readonly memories: MemoryTable;
  readonly wal: WriteAheadLog;
  /** The LSN and frame checksum of the last record applied: a saved index names the record it ends with. */
  readonly lastLsn: number;
  readonly lastChecksum: number;
  /** The log is one hosts share (see `StoreEngine.remote`). */
  readonly remote: boolean;
  /** Set once the store is closing: from then on the index is only drained by `close`, never on a timer. */
  readonly closing: boolean;
  /** The record the tables' checkpoint ends with, if there is one: the log may have dropped it. */
  readonly checkpointPosition: WalPosition | undefined;
  /** What the manifest says of this log (read when asked): the newest checkpoint any process published, and the record the log began after then. */
  publishedCheckpoint(): Promise<PublishedCheckpoint | undefined>;
  decode(record: { type: number; payload: Uint8Array; lsn: number }): LogRecord;
  /** A memory's text, checked against its block's checksum. */
  readText(memory: MemoryRecord): string;
}
