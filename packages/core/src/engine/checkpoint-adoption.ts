import type { WalRecord, WriteAheadLog } from '@memmapfs/wal';
import type { CheckpointFile, CheckpointTables } from '../checkpoint/checkpoint-file.js';
import type { Codec } from '../contracts/codec.js';
import type { LogRecord } from './log-records.js';
import { applyToMemories, changesTables } from './memory-changes.js';
import { MemoryTable } from './memory-table.js';

/** What `CheckpointAdoption` needs of the engine. */
export interface AdoptionSite {
  readonly wal: WriteAheadLog;
  readonly codec: Codec;
  /** The LSN of the last record the engine applied. */
  readonly lastLsn: number;
  decode(record: WalRecord, detach: boolean): LogRecord;
}

/**
 * The memory table of a checkpoint another process published (`file`), newer than the one the engine's
 * table reads from, brought up to the last record the engine applied by the log's records after it:
 * the same memories, read from that file instead (see `StoreEngine.adoptPublishedCheckpoint`).
 */
export class CheckpointAdoption {
  readonly table: MemoryTable;
  /** The LSN of the last record `table` holds. */
  upTo: number;
  /** How many of the records applied after the checkpoint change the tables (see `changesTables`). */
  changes = 0;

  constructor(readonly file: CheckpointFile, tables: CheckpointTables, private readonly site: AdoptionSite) {
    this.table = new MemoryTable(site.codec);
    this.table.setBase(file.memories(site.codec), tables.expiring, tables.namespaces);
    this.upTo = file.position.lsn;
  }

  /**
   * Applies the log's records after `upTo` to `table`, up to the last one the engine applied (which
   * may move on meanwhile: call it again until `upTo` is the engine's). False when the log does not
   * hold every one of them (a newer checkpoint let it drop the first; LSNs have no gaps).
   */
  async catchUp(): Promise<boolean> {
    while (this.upTo < this.site.lastLsn) {
      let read = 0;
      for await (const committed of this.site.wal.readFrom(this.upTo + 1)) {
        // (Not past what the engine applied: `table` is to replace the engine's.)
        if (committed.lsn > this.site.lastLsn) break;
        if (committed.lsn !== this.upTo + 1) return false;
        const record = this.site.decode(committed, true);
        applyToMemories(this.table, record, committed.lsn);
        if (changesTables(record)) this.changes++;
        this.upTo = committed.lsn;
        read++;
      }
      if (read === 0) return false;
    }
    return true;
  }
}
