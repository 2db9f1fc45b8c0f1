import { join } from 'node:path';

/** Where each part of a store lives under its root (docs/FORMAT.md). */
export interface StoreLayout {
  readonly root: string;
  /** The log segment appended to. */
  readonly wal: string;
  /** Sealed log segments. */
  readonly segments: string;
  readonly head: string;
  readonly index: string;
  readonly searchSnapshot: string;
  /** The folder a persistent search index keeps its files in. */
  readonly searchSegments: string;
  /** Locked around a look at the saved search index and the write that depends on it. */
  readonly searchLock: string;
  /** How many purges the saved search index went through, kept apart from its description (see `search-purges.ts`). */
  readonly searchPurges: string;
  readonly blocks: string;
  /** Checkpoint files of the tables. */
  readonly checkpoints: string;
  /** The manifest naming the current checkpoint. */
  readonly manifest: string;
  /** The chunk numbers this host claimed, when the log is shared by hosts (see `hostChunks`). */
  readonly host: string;
  /** Locked while a process checks the cache's claim with the log (see `hostChunks`). */
  readonly hostLock: string;
  /**
   * Locked shared while a snapshot reads blocks by the references of its checkpoint, exclusive while
   * the files of retired chunks are removed (a shared log): a snapshot never loses a chunk it reads.
   */
  readonly blocksLock: string;
}

/** The layout of the store at `root`. */
export function storeLayout(root: string): StoreLayout {
  return {
    root,
    wal: join(root, 'state.wal'),
    segments: join(root, 'wal'),
    head: join(root, 'state.head'),
    index: join(root, 'index'),
    searchSnapshot: join(root, 'index', 'search.snapshot'),
    searchSegments: join(root, 'index', 'segments'),
    searchLock: join(root, 'index', 'save.lock'),
    searchPurges: join(root, 'index', 'purges'),
    blocks: join(root, 'blocks'),
    checkpoints: join(root, 'checkpoints'),
    manifest: join(root, 'state.manifest'),
    host: join(root, 'host.json'),
    hostLock: join(root, 'host.lock'),
    blocksLock: join(root, 'blocks.lock'),
  };
}
