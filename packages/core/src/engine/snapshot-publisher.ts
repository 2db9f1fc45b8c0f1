import type { BlockStore } from '@memmapfs/blocks';
import { describeThrown, type LogSnapshots, type WriteAheadLog } from '@memmapfs/wal';
import type { CheckpointFile } from '../checkpoint/checkpoint-file.js';
import { snapshotBytes } from '../checkpoint/store-snapshot.js';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import { toMemMapError } from './error-mapping.js';

/** What publishing snapshots needs of the engine. */
export interface SnapshotSite {
  /** Whether the store runs on a log other hosts share. */
  readonly remote: boolean;
  readonly wal: WriteAheadLog;
  readonly codec: Codec;
  readonly blocks: BlockStore;
  /** Whether the store is closing, or this process was taken over: no snapshot by policy then. */
  stopped(): boolean;
  /** The LSN of the last record applied. */
  lastLsn(): number;
  /** Applies every change committed before the call, by any host. */
  catchUp(): Promise<void>;
  /** Writes a checkpoint covering every change applied. */
  checkpointTables(): Promise<void>;
  /** The checkpoint the tables were last written to. */
  checkpointFile(): CheckpointFile | undefined;
  /** Runs `body` while no process of this host removes chunk files (see `StoreLayout.blocksLock`). */
  keepingChunks<T>(body: () => Promise<T>): Promise<T>;
}

/**
 * With a log that keeps snapshots (a shared log): keeps a host's checkpoint with the log, with every
 * block it references, as the snapshot new hosts start from; by policy (`autoSnapshot`) or when asked;
 * then lets the log drop what the snapshot before it covers.
 */
export class SnapshotPublisher {
  /** Publish a snapshot after a checkpoint once the log grew this many records past the newest (`autoSnapshot`); `undefined`: never by policy. */
  every: number | undefined;
  /** The snapshot by policy under way, if any. */
  private policyRun: Promise<void> | undefined;
  /** Snapshots being published (by policy or asked for): none by policy starts meanwhile. */
  private publishing = 0;

  constructor(private readonly site: SnapshotSite) {}

  /** Whether a snapshot is being published (its blocks are read by the references of its checkpoint). */
  get busy(): boolean {
    return this.publishing > 0 || this.policyRun !== undefined;
  }

  /** Resolves once the snapshot by policy under way, if any, is done. */
  async settled(): Promise<void> {
    await this.policyRun;
  }

  /**
   * Snapshots by policy, after a checkpoint: publishes one when the log has grown `every` records past
   * the newest kept. Runs in the background; never fails (a failed one is a warning, and the next
   * checkpoint tries again).
   */
  consider(): void {
    const every = this.every;
    const snapshots = this.site.wal?.snapshots;
    if (every === undefined || !snapshots || this.site.stopped() || this.busy) return;
    this.policyRun = (async () => {
      const newest = await snapshots.latest();
      if (this.site.lastLsn() - (newest?.lsn ?? 0) < every || this.site.stopped()) return;
      await this.publish();
    })().catch((error: unknown) => {
      process.emitWarning(`A snapshot by policy was not published (the next checkpoint tries again): ${describeThrown(error)}`, { code: 'MEMMAPFS_SNAPSHOT_FAILED' });
    }).finally(() => (this.policyRun = undefined));
  }

  /**
   * Writes a checkpoint of every change applied, then keeps it with the log, with every block it
   * references, as the snapshot new hosts start from. Resolves with the LSN it covers and its size, or
   * `undefined` when the log keeps a newer one already.
   */
  async publish(): Promise<{ lsn: number; bytes: number } | undefined> {
    const snapshots = this.site.wal.snapshots;
    if (!this.site.remote || !snapshots) {
      throw new MemMapError('NOT_SUPPORTED', 'publishSnapshot() needs a log that keeps snapshots, which other hosts share (the wal option, e.g. postgresWal): a local store is opened from its own checkpoints.');
    }
    this.publishing++;
    try {
      return await this.publishNow(snapshots);
    } finally {
      this.publishing--;
    }
  }

  private async publishNow(snapshots: LogSnapshots): Promise<{ lsn: number; bytes: number } | undefined> {
    const site = this.site;
    let bytes = 0;
    const counted = async function* (pieces: AsyncIterable<Uint8Array>) {
      for await (const piece of pieces) {
        bytes += piece.byteLength;
        yield piece;
      }
    };
    // (From the checkpoint on, no process of the host removes a chunk file its references may name.)
    const published = await site.keepingChunks(async () => {
      // (Caught up under the lock: a chunk retired before it is in no checkpoint of this snapshot. And
      // the log's history must still be this process's: a server that lost commits fails the log here,
      // rather than have a snapshot of a history no longer the log's drop what replaced it.)
      await site.catchUp();
      await site.checkpointTables();
      const file = site.checkpointFile();
      if (!file) return undefined;
      const previous = await snapshots.latest().catch((error: unknown) => {
        throw toMemMapError(error);
      });
      try {
        return (await snapshots.put(file.position.lsn, counted(snapshotBytes(file, site.codec, site.blocks)))) ? { file, previous } : undefined;
      } catch (error) {
        throw toMemMapError(error);
      }
    });
    if (!published) return undefined;
    const { file, previous } = published;
    // The records the snapshot before this one covers are no longer needed by anyone: a host away since
    // starts from a snapshot. (Those this one covers stay until the next; the log keeps what an open
    // process has yet to read in any case, and for a while after its connection was lost.)
    if (previous) {
      await site.wal.fence();
      await site.wal.truncateBefore(previous.lsn + 1).catch((error: unknown) => {
        process.emitWarning(`The shared log was not shortened to the snapshot of record ${previous.lsn} (the next snapshot tries again): ${describeThrown(error)}`, { code: 'MEMMAPFS_RETENTION_FAILED' });
      });
    }
    return { lsn: file.position.lsn, bytes };
  }
}
