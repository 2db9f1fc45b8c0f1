import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '@memmapfs/wal';
import { MemMapFS, registerSearchProvider, type SearchDocument, type SearchProvider } from '@memmapfs/core';
import { useTempRoot, v8Codec, VectorWordSearch, WordSearch } from './fixtures.js';

declare module '@memmapfs/core' {
  interface SearchProviders {
    'saved-vectors-test': { vectors?: { dimensions: number } };
    'spec-test': { label?: string };
  }
}

/** `VectorWordSearch` that saves its index (embeddings included) and counts what it is asked. */
class SavedVectorSearch extends VectorWordSearch {
  override readonly name: string = 'saved-vectors-test';

  constructor(dimensions: number) {
    super(dimensions);
    (this as { supports: SearchProvider['supports'] }).supports = { ...this.supports, snapshot: true };
  }

  override async exportSnapshot(): Promise<Uint8Array> {
    const docs = [...this.docs.values()].map((doc) => ({ ...doc, embedding: doc.embedding && Array.from(doc.embedding) }));
    return Buffer.from(JSON.stringify(docs));
  }

  override async importSnapshot(snapshot: Uint8Array): Promise<void> {
    this.imports++;
    this.docs.clear();
    for (const doc of JSON.parse(Buffer.from(snapshot).toString()) as Array<SearchDocument & { embedding?: number[] }>) {
      this.docs.set(doc.id, { ...doc, ...(doc.embedding ? { embedding: new Float32Array(doc.embedding) } : {}) });
    }
  }
}

/** A `WordSearch` under another name. */
class NamedWordSearch extends WordSearch {
  constructor(override readonly name: string, readonly spec?: SearchProvider['spec']) {
    super();
  }
}

const made: Array<{ name: string; options: unknown; provider: WordSearch }> = [];
registerSearchProvider('saved-vectors-test', (options) => {
  const provider = new SavedVectorSearch(options?.vectors?.dimensions ?? 0);
  made.push({ name: 'saved-vectors-test', options, provider });
  return provider;
});
registerSearchProvider('spec-test', (options) => {
  const provider = new NamedWordSearch('spec-test');
  made.push({ name: 'spec-test', options, provider });
  return provider;
});
// (Core's tests have no adapter installed: the default stands in under its name.)
registerSearchProvider('segments', (options) => {
  const provider = new NamedWordSearch('segments');
  made.push({ name: 'segments', options, provider });
  return provider;
});

const rootOf = useTempRoot();
let root: string;
beforeEach(() => {
  root = rootOf();
  made.length = 0;
});

const snapshotFile = () => join(root, 'index', 'search.snapshot');

describe('a store opened without a search option', () => {
  it('uses the provider that saved its index, with its options, and loads that index rather than rebuild it', async () => {
    const app = await MemMapFS.init(root, { codec: v8Codec(), search: { provider: 'saved-vectors-test', options: { vectors: { dimensions: 3 } } } });
    const north = await app.appendMemory('points north', ['compass'], { embedding: [0, 1, 0] });
    const east = await app.appendMemory('towards the sunrise', ['compass'], { embedding: [1, 0, 0] });
    await app.appendMemory('no embedding at all');
    expect((await app.queryMemory('sunrise')).map((h) => h.id)).toEqual([east]);
    await app.close();
    made.length = 0;

    const rebuilds: number[] = [];
    const again = await MemMapFS.init(root, { codec: v8Codec(), onIndexRebuild: (done) => rebuilds.push(done) });
    expect(again.stats().search).toBe('saved-vectors-test');
    expect(made.map(({ name, options }) => ({ name, options }))).toEqual([{ name: 'saved-vectors-test', options: { vectors: { dimensions: 3 } } }]);
    const provider = made[0]!.provider;
    // Opening, reads by id, state, KV and stats leave the index alone.
    expect((await again.getMemory(north))?.text).toBe('points north');
    again.getState();
    again.getKv('absent');
    again.stats();
    expect(provider.imports).toBe(0);
    expect(provider.docs.size).toBe(0);
    // An embedding of the saved provider's dimensions is accepted before any query.
    const later = await again.appendMemory('points north-east', [], { embedding: [0.7, 0.7, 0] });
    expect((await again.queryMemory('', { embedding: [0.1, 1, 0] })).map((h) => h.id)).toEqual([north, later, east]);
    expect(provider.imports).toBe(1);
    // Only the memory appended after the saved index was added (a rebuild would add all four).
    expect(provider.adds).toBeLessThanOrEqual(2);
    expect(rebuilds).toEqual([]);
    await again.close();

    // The index this process saved still names the provider and its options.
    made.length = 0;
    const third = await MemMapFS.init(root, { codec: v8Codec() });
    expect(made.map(({ name, options }) => ({ name, options }))).toEqual([{ name: 'saved-vectors-test', options: { vectors: { dimensions: 3 } } }]);
    expect((await third.queryMemory('north')).length).toBe(2);
    expect(made[0]!.provider.adds).toBe(0);
    await third.close();
  });

  it("makes an instance's provider again from the spec it declares", async () => {
    const app = await MemMapFS.init(root, { codec: v8Codec(), search: new NamedWordSearch('spec-test', { provider: 'spec-test', options: { label: 'mine' } }) });
    await app.appendMemory('made by an instance');
    await app.queryMemory('instance');
    await app.close();
    const again = await MemMapFS.init(root, { codec: v8Codec() });
    expect(again.stats().search).toBe('spec-test');
    expect(made.map(({ name, options }) => ({ name, options }))).toEqual([{ name: 'spec-test', options: { label: 'mine' } }]);
    expect((await again.queryMemory('instance')).length).toBe(1);
    expect(made[0]!.provider.imports).toBe(1);
    expect(made[0]!.provider.adds).toBe(0);
    await again.close();
  });

  it('uses the default when the provider that saved the index cannot be made here', async () => {
    const app = await MemMapFS.init(root, { codec: v8Codec(), search: new NamedWordSearch('unregistered-test') });
    await app.appendMemory('indexed by a provider no one registered');
    await app.queryMemory('indexed');
    await app.close();
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
    process.on('warning', onWarning);
    const again = await MemMapFS.init(root, { codec: v8Codec() }).finally(() => new Promise((resolve) => setImmediate(resolve)).then(() => process.off('warning', onWarning)));
    // Said, with what to do: another process of the application may register it, and find its index replaced.
    expect(warnings).toEqual([expect.stringMatching(/^MEMMAPFS_SAVED_PROVIDER_UNAVAILABLE: .*'unregistered-test'.*registerSearchProvider/)]);
    expect(again.stats().search).toBe('segments');
    expect((await again.queryMemory('registered')).length).toBe(1);
    // Rebuilt by the default.
    expect(made.map(({ name }) => name)).toEqual(['segments']);
    expect(made[0]!.provider.adds).toBe(1);
    await again.close();
  });

  it('an explicit search option wins, and rebuilds the index when it is another provider', async () => {
    const app = await MemMapFS.init(root, { codec: v8Codec(), search: { provider: 'saved-vectors-test', options: { vectors: { dimensions: 3 } } } });
    await app.appendMemory('first memory');
    await app.queryMemory('first');
    await app.close();
    made.length = 0;
    const other = new NamedWordSearch('other-test');
    const again = await MemMapFS.init(root, { codec: v8Codec(), search: other });
    expect(again.stats().search).toBe('other-test');
    expect(made).toEqual([]);
    await again.appendMemory('second memory');
    expect((await again.queryMemory('memory')).length).toBe(2);
    // Rebuilt from the log: the other provider's saved index is not imported.
    expect(other.imports).toBe(0);
    expect(other.docs.size).toBe(2);
    await again.close();
    // Saved by the one in use now: an open without the option follows it (here, to the default, as it cannot be made by name).
    const third = await MemMapFS.init(root, { codec: v8Codec() });
    expect(third.stats().search).toBe('segments');
    await third.close();
  });

  it('reads an index saved in the previous snapshot format (version 3), which names only the provider', async () => {
    const app = await MemMapFS.init(root, { codec: v8Codec(), search: { provider: 'spec-test', options: { label: 'x' } } });
    await app.appendMemory('saved by an older release');
    await app.queryMemory('older');
    await app.close();
    await writeFile(snapshotFile(), asVersion3(await readFile(snapshotFile())));
    made.length = 0;
    const again = await MemMapFS.init(root, { codec: v8Codec() });
    expect(again.stats().search).toBe('spec-test');
    // Version 3 knew no options: the provider is made by its name alone.
    expect(made.map(({ name, options }) => ({ name, options }))).toEqual([{ name: 'spec-test', options: undefined }]);
    expect((await again.queryMemory('older')).length).toBe(1);
    expect(made[0]!.provider.imports).toBe(1);
    expect(made[0]!.provider.adds).toBe(0);
    await again.close();
  });
});

/**
 * The same snapshot in format 3: the fixed header up to the provider name's length (56 bytes), then
 * the name, then the provider's data; version 3 at 8, the checksum of bytes 16 on at 12.
 */
function asVersion3(v4: Buffer): Buffer {
  expect(v4.readUInt32LE(8)).toBe(4);
  const nameLength = v4.readUInt8(56);
  const specLength = v4.readUInt32LE(57);
  const name = v4.subarray(65, 65 + nameLength);
  const data = v4.subarray(65 + nameLength + specLength);
  const v3 = Buffer.concat([v4.subarray(0, 56), Buffer.from([nameLength]), name, data]);
  v3.writeUInt32LE(3, 8);
  v3.writeUInt32LE(crc32c(v3.subarray(16)), 12);
  return v3;
}
