// Helpers for the tests of a MemMapFS store running on the PostgreSQL log: each "host" is a root
// folder of its own (its cache: chunk files, checkpoints, search index) over one store in the database.
import * as nodeFileSystem from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemMapFS, type Memory } from '@memmapfs/core';
import { seededRandom } from '@memmapfs/testkit';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';
import { afterEach } from 'vitest';
import { postgresWal } from '../../src/index.js';
import { dropStore, freshStore } from './places.js';

type NodeFileSystem = typeof nodeFileSystem;

/**
 * `node:fs/promises` with one operation replaced: `call` gets the original and the arguments of each
 * call (to fail it, delay it, or let it through), for the store's `fileSystem` option.
 */
export function fileSystemWith<K extends keyof NodeFileSystem>(name: K, call: (original: NodeFileSystem[K], path: string, ...rest: unknown[]) => Promise<unknown>): NodeFileSystem {
  return new Proxy(nodeFileSystem, {
    get(target, key) {
      const value = target[key as keyof NodeFileSystem];
      return key === name ? (path: string, ...rest: unknown[]) => call(value as NodeFileSystem[K], String(path), ...rest) : value;
    },
  });
}

/** The options `MemMapFS.init` takes (`wal` among them, new in core). */
export type StoreInitOptions = NonNullable<Parameters<typeof MemMapFS.init>[1]>;

/** Where a host's store lives: the server, the store's name, and the host's own connection. */
export interface StorePlace {
  readonly connectionString: string;
  readonly store: string;
}

/**
 * The connection string a host uses: with an `application_name` of its own, so that the logs of two
 * "hosts" in one process do not hand commits to each other in memory (as they would with the very
 * same connection string): what one sees of the other comes through PostgreSQL, as between machines.
 */
export const hostConnection = (connectionString: string, host: string | undefined): string =>
  host === undefined ? connectionString : `${connectionString}${connectionString.includes('?') ? '&' : '?'}application_name=${encodeURIComponent(`memmapfs-host-${host}`)}`;

/** `MemMapFS.init` options of a store on the PostgreSQL log (typed loosely: `wal` is new in core). */
export function storeOptions(place: StorePlace, host?: string, extra: Record<string, unknown> = {}): StoreInitOptions {
  const options: Record<string, unknown> = {
    codec: msgpack(),
    search: flexsearch(),
    wal: postgresWal({ connectionString: hostConnection(place.connectionString, host), store: place.store }),
    ...extra,
  };
  return options as StoreInitOptions;
}

/** Opens (or creates) the host cache at `root` over the store. */
export function openHost(root: string, place: StorePlace, host?: string, extra?: Record<string, unknown>): Promise<MemMapFS> {
  return MemMapFS.init(root, storeOptions(place, host, extra));
}

/** Temporary root folders, removed by `removeAll`. */
export function tempRoots(): { make(prefix?: string): Promise<string>; removeAll(): Promise<void> } {
  const made: string[] = [];
  return {
    async make(prefix = 'host') {
      const dir = await mkdtemp(join(tmpdir(), `memmapfs-pgstore-${prefix}-`));
      made.push(dir);
      return dir;
    },
    async removeAll() {
      await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

/** Every live memory, oldest first, page by page. */
export async function allMemories(fs: MemMapFS): Promise<Memory[]> {
  const memories: Memory[] = [];
  let cursor: string | undefined;
  do {
    const page = await fs.listMemories({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    memories.push(...page.memories);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return memories;
}

/** Every live memory as `[id, text]`, in id order. */
export async function memoryTexts(fs: MemMapFS): Promise<Array<[number, string]>> {
  return (await allMemories(fs)).map((memory) => [memory.id, memory.text]);
}

/** The bytes of a stream, its chunks joined. */
export async function readStream(fs: MemMapFS, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of fs.openRead(key)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * A text of `bytes` UTF-8 bytes (ASCII) that does not repeat in short periods, made of words drawn at
 * random from a vocabulary, so that it is indexed as text. The same `seed` gives the same text.
 */
export function longText(bytes: number, seed: number): string {
  const random = seededRandom(seed);
  let text = '';
  while (text.length < bytes) text += `${VOCABULARY[Math.floor(random() * VOCABULARY.length)]} `;
  return text.slice(0, bytes);
}

/**
 * The words of `longText`: 4,096 made-up ones, as a language has a vocabulary. (Words each made up anew
 * gave every long text thousands of terms of its own: indexes grew with every text, and saving one took
 * seconds of CPU in every process.)
 */
const VOCABULARY = (() => {
  const random = seededRandom(4096);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  return Array.from({ length: 4096 }, () => Array.from({ length: 2 + Math.floor(random() * 9) }, () => letters[Math.floor(random() * 26)]).join(''));
})();

/**
 * The hosts of a test file: temporary roots, fresh stores and the stores opened, closed and removed
 * after each test. Call it in the file's body (it registers an `afterEach`).
 */
export function hostsTestBed(connectionString: string, prefix: string) {
  const roots = tempRoots();
  const stores: string[] = [];
  const opened: MemMapFS[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((fs) => fs.close().catch(() => undefined)));
    await roots.removeAll();
    await Promise.all(stores.splice(0).map((store) => dropStore(connectionString, store).catch(() => undefined)));
  });
  return {
    roots,
    /** The stores opened and not closed yet (closed after the test). */
    opened,
    /** A store of its own in the database, dropped after the test. */
    newPlace(): StorePlace {
      const store = freshStore(prefix);
      stores.push(store);
      return { connectionString, store };
    },
    /** Opens a host: `host` names its connection (none: the plain connection string, shared in-process). */
    async open(root: string, place: StorePlace, host: string | undefined, extra?: Record<string, unknown>): Promise<MemMapFS> {
      const fs = await openHost(root, place, host, extra);
      opened.push(fs);
      return fs;
    },
    /** Closes a store `open` opened. */
    async close(fs: MemMapFS): Promise<void> {
      opened.splice(opened.indexOf(fs), 1);
      await fs.close();
    },
  };
}
