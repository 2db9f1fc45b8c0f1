import { dirname, join } from 'node:path';
import { describeThrown, syncFolder, type WalPosition } from '@memmapfs/wal';
import type { Codec } from '../contracts/codec.js';
import { MemMapError } from '../errors.js';
import type { StoreFileSystem } from '../types.js';
import { openCheckpointFile, readCheckpointHeader, readWholeCheckpointHeader, writeUnnamedCheckpoint, type CheckpointContents, type CheckpointFile, type CheckpointRowsProgress, type UnnamedCheckpoint } from './checkpoint-file.js';
import { checkpointFileLsn, checkpointFileName, checkpointTempFile, readManifest, writeManifest, type StoreManifest } from './checkpoint-manifest.js';
import { isAbandoned } from '../engine/abandoned-files.js';
import { tryFileLock, withFileLock } from '../engine/file-lock.js';
import { monotonicMs } from '../monotonic-clock.js';

/** What the manifest says of a log: see `CheckpointStore.published`. */
export interface PublishedCheckpoint {
  /** The position the checkpoint it names ends with; `undefined` when that file is gone or not this log's. */
  readonly position: WalPosition | undefined;
  /** See `StoreManifest.logBase`. */
  readonly logBase: StoreManifest['logBase'];
}

/** How long an erase's `removedBefore` waits for checkpoint writers that took their tables before it (a checkpoint of a million memories takes about a second). */
const WRITERS_WAIT_MS = 60_000;
/** …asking in between whether the store is closing. */
const WRITERS_POLL_MS = 200;
/** …holding `checkpoints.gate` (new writers wait behind it) this long at first, twice as long each time after… */
const GATE_HOLD_MS = 5_000;
/** …then letting it go this long, for the writers waiting there. */
const GATE_PAUSE_MS = 100;
/** How long a checkpoint writer waits for the writers' lock (an erase holds it while it removes older checkpoints). */
const LOCK_WAIT_MS = 120_000;

/** Tells that the checkpoint `name` is passed over as damaged, as a process warning. */
function warnUnusable(name: string, error: unknown): void {
  process.emitWarning(`The checkpoint ${name} is not used: ${(error as Error).message}`, { code: 'MEMMAPFS_CHECKPOINT_UNUSABLE' });
}

/**
 * The checkpoint files of a store (`<root>/checkpoints/`) and the manifest that names the current one
 * (`<root>/state.manifest`). Any process may write a checkpoint; the manifest only ever moves forward
 * (a checkpoint older than the one it names is not published), and files older than the one it names
 * are unlinked: a process that still maps one keeps reading it until it lets go, as unlinking leaves
 * an open file's pages in place.
 */
export class CheckpointStore {
  /** Locked shared by each checkpoint writer from its tables to its file's publication or removal, exclusive by an erase's cleanup (see `whileWriting`). */
  private readonly writersLock: string;
  /** Locked shared by a writer for a moment as it takes `writersLock`, exclusive by an erase while it waits for that lock and cleans up: new writers wait behind it. */
  private readonly writersGate: string;

  constructor(
    private readonly folder: string,
    private readonly manifestPath: string,
    private readonly files: StoreFileSystem,
    private readonly reader: 'auto' | 'mmap' | 'read',
  ) {
    this.writersLock = join(dirname(manifestPath), 'checkpoints.lock');
    this.writersGate = join(dirname(manifestPath), 'checkpoints.gate');
  }

  /**
   * Runs `body`, the writing of a checkpoint from taking its tables to publishing or abandoning its
   * file, holding a shared lock on `checkpoints.lock`, which `removedBefore` takes exclusively: an erase
   * removes what checkpoints from before it left only once no writer that took its tables earlier is
   * still to create its temporary file (a writer killed meanwhile leaves its file to that removal). The
   * lock is taken through `checkpoints.gate`, which an erase holds exclusively while it waits: writers of
   * several processes, one taking the lock before another lets go, do not keep it from the erase.
   */
  async whileWriting<T>(body: () => Promise<T>): Promise<T> {
    const writing = await withFileLock(this.writersGate, this.files, () => this.lockOrFail(this.writersLock, 'shared', LOCK_WAIT_MS), LOCK_WAIT_MS, 'shared');
    try {
      return await body();
    } finally {
      await writing.release();
    }
  }

  /** Takes a lock on `path`, or fails with `LOCK_TIMEOUT` after `waitMs`. */
  private async lockOrFail(path: string, mode: 'shared' | 'exclusive', waitMs: number): Promise<{ release(): Promise<void> }> {
    const lease = await tryFileLock(path, this.files, waitMs, mode, 2);
    if (!lease) throw new MemMapError('LOCK_TIMEOUT', `Another process of this host held ${path} for over ${Math.round(waitMs / 1000)} s (it may be stuck): nothing was done. Find it with \`fuser ${path}\`, or try again.`, { subsystem: 'checkpoint' });
    return lease;
  }

  /**
   * The checkpoint the manifest names, mapped; when that one is gone or unusable, the newest other
   * checkpoint of the same log in the folder (releases that published without a lock could leave the
   * manifest naming one another writer removed). With no manifest that reads (gone or damaged: it only
   * names a checkpoint), the newest checkpoint in the folder that opens, of log `logId` when it is given,
   * else of whichever log (a reader that has not read the log's header yet). `undefined` when there is
   * none: the open replays the whole log. Whatever is taken, the log checks it ends at a record it holds
   * before it is used (a checkpoint of another log ends at none). See `find` for `onDamaged`.
   */
  async current(logId?: string, onDamaged?: (name: string, error: unknown) => void): Promise<CheckpointFile | undefined> {
    return (await this.find(logId, onDamaged)).file;
  }

  /**
   * `current`, whether the manifest names the checkpoint found (else the next checkpoint written names
   * one), and the log the manifest names (when one reads): a reader that has not read the log's header
   * yet, finding no checkpoint, learns from it whether the manifest was another log's. A checkpoint passed
   * over as damaged is told to `onDamaged` (by default, a process warning).
   */
  async find(logId?: string, onDamaged: (name: string, error: unknown) => void = warnUnusable): Promise<{ file: CheckpointFile | undefined; named: boolean; manifestLog: string | undefined }> {
    const manifest = await readManifest(this.manifestPath, this.files);
    const others = async () => (await this.files.readdir(this.folder).catch(() => [] as string[]))
      .filter((name) => name !== manifest?.checkpoint && checkpointFileLsn(name) !== undefined)
      .sort()
      .reverse();
    const manifestLog = manifest?.logId;
    const unnamed = (file: CheckpointFile | undefined) => ({ file, named: false, manifestLog });
    if (!manifest || (logId !== undefined && manifest.logId !== logId)) return unnamed(this.openFirstUsable(await others(), logId, onDamaged));
    const named = this.openFirstUsable([manifest.checkpoint], manifest.logId, onDamaged);
    return named ? { file: named, named: true, manifestLog } : unnamed(this.openFirstUsable(await others(), manifest.logId, onDamaged));
  }

  /**
   * The LSN of the checkpoint the manifest names, and its file mapped, when it is one of log `logId`
   * ending after record `after`, at record `upTo` at the latest, and not at record `passed`; else
   * `undefined`. One small read when there is none. When the file cannot be opened: `undefined` if a
   * newer checkpoint replaced it meanwhile; else (damaged, which is said) `file` is `undefined`.
   */
  async publishedBetween(logId: string, after: number, upTo: number, passed?: number): Promise<{ lsn: number; file: CheckpointFile | undefined } | undefined> {
    const manifest = await readManifest(this.manifestPath, this.files);
    if (manifest?.logId !== logId || manifest.lsn <= after || manifest.lsn > upTo || manifest.lsn === passed) return undefined;
    const file = this.openFirstUsable([manifest.checkpoint], logId);
    // (A file is removed only once a newer manifest names another.)
    if (!file && (await readManifest(this.manifestPath, this.files))?.checkpoint !== manifest.checkpoint) return undefined;
    return { lsn: manifest.lsn, file };
  }

  /** The first of `names` that opens as a checkpoint of log `logId` (`undefined`: of any log), named for the LSN it covers. */
  private openFirstUsable(names: readonly string[], logId: string | undefined, onDamaged: (name: string, error: unknown) => void = warnUnusable): CheckpointFile | undefined {
    for (const name of names) {
      try {
        const file = openCheckpointFile(join(this.folder, name), this.reader);
        if ((logId === undefined || file.logId === logId) && file.position.lsn === checkpointFileLsn(name)) return file;
      } catch (error) {
        // Removed by another writer meanwhile: the next one. Damaged: said, then the next one.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') onDamaged(name, error);
      }
    }
    return undefined;
  }

  /**
   * What the manifest says of log `logId` (`undefined` when it names none of it): the position the
   * checkpoint it names ends with (read from its header, not mapped; `undefined` when that file was
   * replaced and removed meanwhile), and the record the log began after when it was written.
   */
  async published(logId: string): Promise<PublishedCheckpoint | undefined> {
    const manifest = await readManifest(this.manifestPath, this.files);
    if (manifest?.logId !== logId) return undefined;
    const header = await readCheckpointHeader(join(this.folder, manifest.checkpoint), this.files);
    return { position: header?.logId === logId && header.position.lsn === manifest.lsn ? header.position : undefined, logBase: manifest.logBase };
  }

  /**
   * Removes a checkpoint found damaged, and the manifest if it names it (opens then replay the log),
   * when `removable` says so, asked under the publishing lock: a manifest another process publishes
   * meanwhile must not be the one removed, and a cut of the log (`whilePublished`) waits. Returns
   * whether it was removed.
   */
  async discard(file: CheckpointFile, removable: () => Promise<boolean> = () => Promise.resolve(true)): Promise<boolean> {
    // (The file too, under the lock: another process's checkpoint of the same LSN, published once the
    // manifest is gone, takes the same name.)
    return withFileLock(`${this.manifestPath}.lock`, this.files, async () => {
      if (!(await removable())) return false;
      const manifest = await readManifest(this.manifestPath, this.files);
      if (manifest && join(this.folder, manifest.checkpoint) === file.path) await this.files.unlink(this.manifestPath).catch(() => undefined);
      await this.files.unlink(file.path).catch(() => undefined);
      return true;
    });
  }

  /**
   * Runs `body` with the position of the checkpoint the manifest names (see `published`), under
   * the publishing lock: no checkpoint is published or discarded until it is done. For a cut of the log,
   * which must not go past a checkpoint a discard is removing.
   */
  whilePublished<T>(logId: string, body: (published: WalPosition | undefined) => Promise<T>): Promise<T> {
    return withFileLock(`${this.manifestPath}.lock`, this.files, async () => {
      const manifest = await readManifest(this.manifestPath, this.files);
      // (One whose tables are damaged under its name covers nothing: the log is all there is.)
      let whole: WalPosition | undefined;
      try {
        whole = manifest?.logId === logId ? await this.namedWhole(manifest.checkpoint, logId, manifest.lsn) : undefined;
      } catch (error) {
        throw new MemMapError('IO_ERROR', `Cannot read the checkpoint ${manifest!.checkpoint} the manifest names: ${describeThrown(error)}. The log was not shortened; a later cut tries again.`, { cause: error, subsystem: 'checkpoint' });
      }
      return body(whole);
    });
  }

  /**
   * Writes a checkpoint file under a temporary name (`publish` names it, `abandon` removes it) and
   * returns it mapped, with its tables as read back; `onRows` hears how many rows are written.
   */
  async write(contents: CheckpointContents, codec: Codec, onRows?: CheckpointRowsProgress): Promise<UnnamedCheckpoint> {
    const path = join(this.folder, checkpointFileName(contents.position.lsn));
    try {
      await this.ensureFolder();
      return await writeUnnamedCheckpoint(path, contents, codec, this.files, this.reader, onRows);
    } catch (error) {
      throw MemMapError.is(error) ? error : new MemMapError('IO_ERROR', `Cannot write the checkpoint ${path}: ${(error as Error).message}`, { cause: error, subsystem: 'checkpoint' });
    }
  }

  /** Creates the checkpoints folder when it is missing (made durable in its parent). */
  private async ensureFolder(): Promise<void> {
    if (await this.files.mkdir(this.folder, { recursive: true })) await syncFolder(dirname(this.folder), this.files);
  }

  /**
   * Gives the checkpoint `write` wrote its name and names it in the manifest, unless the manifest
   * already names a checkpoint of the same log at least as recent (its file is then removed: this
   * process keeps reading it through its mapping), then removes the checkpoints it makes obsolete.
   * Returns whether it was published. One process at a time (a lock of its own, `state.manifest.lock`):
   * two publishing at once could both pass the comparison, and the older one's manifest land after the
   * newer one removed its file; and the name is taken under it, so that a file another process
   * published at the same LSN is never replaced, nor one removed while another comes back. `wanted` is
   * asked first under that lock: false (or a throw) publishes nothing. `oldestHeld` (the LSN of the
   * oldest record the log holds, asked under the lock, where no cut of a log in files runs) lets the
   * manifest say which record the log begins after (`StoreManifest.logBase`).
   */
  async publish(written: UnnamedCheckpoint, wanted: () => boolean = () => true, oldestHeld?: () => Promise<number>): Promise<boolean> {
    const { file, temp } = written;
    const lsn = file.position.lsn;
    try {
      return await withFileLock(`${this.manifestPath}.lock`, this.files, async () => {
        if (!wanted()) return false;
        // (Read strictly: a read that fails is not taken for a manifest or a file that is not there.)
        const onDisk = await readManifest(this.manifestPath, this.files, true);
        // (One of the same LSN whose file is gone or not a checkpoint of it is replaced: this one is as good.)
        // (One of the same LSN whose tables are damaged is replaced too: this one is whole.)
        if (onDisk && onDisk.logId === file.logId && (onDisk.lsn > lsn || (onDisk.lsn === lsn && (await this.namedWhole(onDisk.checkpoint, file.logId, lsn)) !== undefined))) return false;
        await this.files.rename(temp, file.path);
        await syncFolder(this.folder, this.files);
        const logBase = oldestHeld ? await this.logBase(onDisk, file.position, file.logId, oldestHeld) : undefined;
        await writeManifest(this.manifestPath, { logId: file.logId, checkpoint: checkpointFileName(lsn), lsn, ...(logBase ? { logBase } : {}) }, this.files);
        await this.removeObsolete(lsn, file.logId).catch(() => undefined);
        return true;
      });
    } catch (error) {
      throw MemMapError.is(error) ? error : new MemMapError('IO_ERROR', `Cannot publish the checkpoint ${file.path}: ${(error as Error).message}`, { cause: error, subsystem: 'checkpoint' });
    } finally {
      // (Gone once it has its name; else no longer wanted.)
      await this.abandon(written);
    }
  }


  /**
   * The record the log begins after, as the manifest replacing `onDisk` names it, when the log no longer
   * holds its first records and it is known: the end of the checkpoint `onDisk` names, or the record
   * `onDisk` names as the log's base; `undefined` when the new checkpoint (ending at `position`) itself
   * ends with it, or when it cannot be told (the manifest then stands without it).
   */
  private async logBase(onDisk: StoreManifest | undefined, position: WalPosition, logId: string, oldestHeld: () => Promise<number>): Promise<StoreManifest['logBase']> {
    if (onDisk?.logId !== logId) return undefined;
    const oldest = await oldestHeld().catch(() => undefined);
    // (Not known now: the one the manifest names stays true of its record, and vouches only while the log begins right after it.)
    if (oldest === undefined) return onDisk.logBase !== undefined && onDisk.logBase.lsn < position.lsn ? onDisk.logBase : undefined;
    const before = oldest - 1;
    if (before < 1 || before >= position.lsn) return undefined;
    if (onDisk.logBase?.lsn === before) return onDisk.logBase;
    if (onDisk.lsn !== before) return undefined;
    const header = await readCheckpointHeader(join(this.folder, onDisk.checkpoint), this.files).catch(() => undefined);
    return header?.logId === logId && header.position.lsn === before ? { lsn: before, checksum: header.position.checksum } : undefined;
  }

  /**
   * The position of the checkpoint file `name` when it is one of log `logId` at `lsn` whose header and
   * tables section read back whole (as an open checks them); `undefined` when it is gone or damaged.
   * Other errors reading it are thrown.
   */
  private async namedWhole(name: string, logId: string, lsn: number): Promise<WalPosition | undefined> {
    const header = await readWholeCheckpointHeader(join(this.folder, name), this.files);
    return header?.logId === logId && header.position.lsn === lsn ? header.position : undefined;
  }

  /** Removes a checkpoint `write` wrote that is not to be published (nothing once it has its name). */
  async abandon(written: UnnamedCheckpoint): Promise<void> {
    await this.files.unlink(written.temp).catch(() => undefined);
  }

  /**
   * For `compact({ erase: true })`, once its checkpoint covering `lsn` is published: whether no file of
   * the folder may still hold rows from before it (of deleted memories), durably. Once no checkpoint
   * writer that took its tables earlier is still writing (see `whileWriting`; a wait that `stop`, asked
   * now and then, ends, as a close does: then false), under the publishing lock, and only while the
   * manifest names a checkpoint of log `logId` (`current` is asked first, and
   * again once the folder is listed: a log replaced meanwhile is not this process's to clean up):
   * removes this log's checkpoints older than both `lsn` and the manifest's, any checkpoint file whose
   * header is damaged, and every temporary file from before `lsn` (under the writers' lock, only a
   * writer that died can have left one, however recently); another log's checkpoint, whatever its name
   * (`publish` removes it), or one whose header cannot be read counts as left. Never removes the checkpoint the manifest names. Then fsyncs the folder (an
   * earlier removal's fsync may have failed). False too when any of it fails. With no manifest, whether
   * the folder holds no checkpoint at all.
   */
  async removedBefore(lsn: number, logId: string, current: () => void, stop: () => boolean = () => false): Promise<boolean> {
    // Writers that took their tables before go first (see `whileWriting`); new ones wait at the gate,
    // for 5 s at first, twice as long each time after: one slow to let go holds no other process's
    // checkpoints for long, and writers let in meanwhile, each as slow, do not keep the lock from the
    // erase for good. One that holds the lock longer than the whole wait, or a close meanwhile, leaves
    // the erase not done, as a file left does.
    const until = monotonicMs() + WRITERS_WAIT_MS;
    try {
      for (let hold = GATE_HOLD_MS; ; hold *= 2) {
        const gate = await this.exclusiveBefore(this.writersGate, until, stop);
        if (!gate) return false;
        try {
          const lock = await this.exclusiveBefore(this.writersLock, Math.min(until, monotonicMs() + hold), stop);
          if (lock) {
            try {
              return await this.removedBeforeHeld(lsn, logId, current);
            } finally {
              await lock.release();
            }
          }
        } finally {
          await gate.release();
        }
        if (stop() || monotonicMs() >= until) return false;
        // (The writers waiting at the gate go through.)
        await new Promise((resolve) => setTimeout(resolve, GATE_PAUSE_MS));
      }
    } catch {
      return false;
    }
  }

  /** An exclusive lock on `path`, waited for until `deadline` (monotonic) unless `stop` says so first; `undefined` then. */
  private async exclusiveBefore(path: string, deadline: number, stop: () => boolean): Promise<{ release(): Promise<void> } | undefined> {
    for (;;) {
      const lease = await tryFileLock(path, this.files, Math.min(WRITERS_POLL_MS, Math.max(0, deadline - monotonicMs())), 'exclusive', 2);
      if (lease) return lease;
      if (stop() || monotonicMs() >= deadline) return undefined;
    }
  }

  /** `removedBefore`, under the writers' lock. */
  private async removedBeforeHeld(lsn: number, logId: string, current: () => void): Promise<boolean> {
    try {
      return await withFileLock(`${this.manifestPath}.lock`, this.files, async () => {
        current();
        const manifest = await readManifest(this.manifestPath, this.files, true);
        const names = await this.files.readdir(this.folder).catch((error: NodeJS.ErrnoException) => {
          if (error?.code === 'ENOENT') return [] as string[];
          throw error;
        });
        current();
        if (!manifest) return !names.some((name) => checkpointFileLsn(name) !== undefined || checkpointTempFile(name) !== undefined);
        if (manifest.logId !== logId) return false;
        const bound = Math.min(lsn, manifest.lsn);
        let left = 0;
        const remove = (path: string) => this.files.unlink(path).then(() => undefined, (error: NodeJS.ErrnoException) => {
          if (error?.code !== 'ENOENT') left++;
        });
        for (const name of names) {
          const path = join(this.folder, name);
          const fileLsn = checkpointFileLsn(name);
          if (fileLsn !== undefined) {
            if (name === manifest.checkpoint) continue;
            // (Whatever its name: another log's, a repair's leftover, may be named anything. `undefined`:
            // gone, or no checkpoint's header, damaged: removed. This log's from `bound` on hold nothing
            // from before the erase; another log's is `publish`'s to remove, and counts as left until then.)
            const header = await readCheckpointHeader(path, this.files, true).catch(() => null);
            if (header === null) left++;
            else if (header === undefined || (header.logId === logId && fileLsn < bound)) await remove(path);
            else if (header.logId !== logId) left++;
            continue;
          }
          const temp = checkpointTempFile(name);
          if (!temp || temp.lsn >= lsn) continue;
          // Every writer holds `checkpoints.lock` while its file is under this name, and this erase holds it
          // exclusively: a writer that died left it, however recently (its process, killed, may not have
          // been reaped yet, and still counts as alive). (Should one of a release before the lock be
          // writing it, its checkpoint fails and is written again.)
          await remove(path);
        }
        await syncFolder(this.folder, this.files);
        return left === 0;
      });
    } catch {
      return false;
    }
  }

  /**
   * Unlinks the checkpoints of this log older than `lsn`, those of other logs, and the temporary files
   * of writers that died.
   */
  private async removeObsolete(lsn: number, logId: string): Promise<void> {
    let removed = false;
    const remove = (path: string) => this.files.unlink(path).then(() => (removed = true), () => undefined);
    for (const name of await this.files.readdir(this.folder)) {
      const path = join(this.folder, name);
      const fileLsn = checkpointFileLsn(name);
      if (fileLsn !== undefined) {
        if (fileLsn < lsn || (fileLsn > lsn && (await readCheckpointHeader(path, this.files))?.logId !== logId)) await remove(path);
        continue;
      }
      // A writer's temporary file, left by a writer that died.
      const temp = checkpointTempFile(name);
      if (temp && (await isAbandoned(path, temp.pid, this.files))) await remove(path);
    }
    // (Durable: after a power loss an old checkpoint does not come back with what an erase removed.)
    if (removed) await syncFolder(this.folder, this.files);
  }
}
