import type { WalRecord, WriteAheadLog } from '@memmapfs/wal';
import type { CheckpointFile, CheckpointTables } from '../checkpoint/checkpoint-file.js';
import type { Codec } from '../contracts/codec.js';
import { RecordType, type LogRecord } from './log-records.js';
import { KvTable } from './kv-table.js';
import { applyToMemories, changesTables } from './memory-changes.js';
import { MemoryTable } from './memory-table.js';

/** Rows `CheckpointAdoption.rowsWhole` checks in one turn of the event loop (a multiple of the rows per check). */
const ROWS_PER_SLICE = 16_384;

/** What `CheckpointAdoption` needs of the engine. */
export interface AdoptionSite {
  readonly wal: WriteAheadLog;
  readonly codec: Codec;
  /** The LSN of the last record the engine applied. */
  readonly lastLsn: number;
  /** Set once the store is closing: the work stops. */
  readonly closing: boolean;
  decode(record: WalRecord, detach: boolean): LogRecord;
}

/**
 * The memory table and the KV pairs of a checkpoint another process published (`file`), newer than the
 * one the engine's tables read from, brought up to the last record the engine applied by the log's
 * records after it: the same memories and pairs, read from that file instead (see
 * `StoreEngine.adoptPublishedCheckpoint`).
 */
export class CheckpointAdoption {
  readonly table: MemoryTable;
  readonly kv: KvTable;
  private readonly kvPairs: CheckpointTables['kv'];
  /** The LSN of the last record `table` holds. */
  upTo: number;
  /** How many of the records applied after the checkpoint change the tables (see `changesTables`). */
  changes = 0;

  constructor(readonly file: CheckpointFile, tables: CheckpointTables, private readonly site: AdoptionSite) {
    this.table = new MemoryTable(site.codec);
    this.table.setBase(file.memories(site.codec), tables.expiring, tables.namespaces);
    this.kvPairs = tables.kv;
    this.kv = new KvTable(tables.kv);
    this.upTo = file.position.lsn;
  }

  /**
   * Whether every group of the checkpoint's rows, and of its KV pairs, passes its check (the rows a
   * slice at a time, a turn of the event loop apart: a million rows take a fifth of a second): the table
   * it replaces reads from a file whose rows passed theirs, and must not give way to a damaged one.
   */
  async rowsWhole(): Promise<boolean> {
    const rows = this.file.memories(this.site.codec);
    for (let from = 0; from < rows.count; from += ROWS_PER_SLICE) {
      if (this.site.closing || rows.unreadableRows(from, from + ROWS_PER_SLICE) > 0) return false;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // (Its KV pairs too, in one go: a few tens of milliseconds at a million.)
    return this.kvPairs.verify() === undefined;
  }

  /**
   * Whether the log's record at the checkpoint's position has the checksum the checkpoint names, while
   * the log still holds it (one that begins right after it, or holds nothing after it, cannot say: as
   * at an open). A checkpoint of another history of this log is never taken.
   */
  async sameHistory(): Promise<boolean> {
    const { lsn, checksum } = this.file.position;
    for await (const committed of this.site.wal.readFrom(lsn)) {
      if (committed.lsn === lsn) return committed.checksum === checksum;
      return committed.lsn === lsn + 1;
    }
    return true;
  }

  /**
   * Applies the log's records after `upTo` to `table`, up to the last one the engine applied (which
   * may move on meanwhile: call it again until `upTo` is the engine's). False when the log does not
   * hold every one of them (a newer checkpoint let it drop the first; LSNs have no gaps), or the store
   * is closing.
   */
  async catchUp(): Promise<boolean> {
    while (this.upTo < this.site.lastLsn) {
      let read = 0;
      for await (const committed of this.site.wal.readFrom(this.upTo + 1)) {
        // (Not past what the engine applied: `table` is to replace the engine's.)
        if (committed.lsn > this.site.lastLsn) break;
        if (committed.lsn !== this.upTo + 1 || this.site.closing) return false;
        const record = this.site.decode(committed, true);
        applyToMemories(this.table, record, committed.lsn);
        if (record.type === RecordType.KvSet) this.kv.set(record.key, new Uint8Array(record.value));
        else if (record.type === RecordType.KvDelete) this.kv.delete(record.key);
        if (changesTables(record)) this.changes++;
        this.upTo = committed.lsn;
        read++;
      }
      if (read === 0) return false;
    }
    return true;
  }
}
