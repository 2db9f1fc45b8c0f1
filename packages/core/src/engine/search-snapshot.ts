import type { SearchProviderSpec } from '../contracts/search-provider.js';
import { checkedSpec } from '../registry/provider-spec.js';
import type { StoreFileSystem } from '../types.js';
import { crc32c } from '@memmapfs/wal';
import { createFileDurably, LOG_ID_SIZE } from '@memmapfs/wal';

const MAGIC = Buffer.from('MMFS-IDX', 'ascii');
/** Version 4 added the provider's spec; version 3 (the name alone) is still read. */
const VERSION = 4;
const VERSION_WITHOUT_SPEC = 3;
const LOG_ID_OFFSET = 24;
const CHECKSUM_OFFSET = LOG_ID_OFFSET + LOG_ID_SIZE;
const SAVED_AT_OFFSET = CHECKSUM_OFFSET + 4;
const PURGES_OFFSET = SAVED_AT_OFFSET + 8;
const NAME_LENGTH_OFFSET = PURGES_OFFSET + 4;
/** (Version 4.) The spec's length, then the checksum of the name and the spec, then the name. */
const SPEC_LENGTH_OFFSET = NAME_LENGTH_OFFSET + 1;
const PROVIDER_CHECKSUM_OFFSET = SPEC_LENGTH_OFFSET + 4;
const FIXED_SIZE = PROVIDER_CHECKSUM_OFFSET + 4;
/** Where the name begins in a snapshot of version 3. */
const FIXED_SIZE_WITHOUT_SPEC = NAME_LENGTH_OFFSET + 1;
/** How much of a snapshot's start `readSearchSnapshotProvider` reads at first (more only for a longer spec). */
const PROVIDER_READ_SIZE = 4096;
/** Longest spec recorded (a longer one is not: the saved index then names the provider alone). */
const MAX_SPEC_BYTES = 64 * 1024;

/** A saved search index and the log position it covers. */
export interface SearchSnapshot {
  /** Provider that wrote it; another provider cannot read it. */
  readonly provider: string;
  /** How that provider is made again by name, with its options, when known (version 4). */
  readonly spec?: SearchProviderSpec | undefined;
  /** Identity of the log it was built from (the log header's id): a snapshot of another log is never used. */
  readonly logId: string;
  /** Every record of that log up to this LSN is in the index. */
  readonly lsn: number;
  /** The frame checksum of the record at `lsn` (0 for LSN 0): tells it from a record that took its LSN after a crash cut the log. */
  readonly checksum: number;
  /** The clock when it was saved (ms): memories that had expired by then are not in it. */
  readonly savedAt: number;
  /**
   * How many purges (`compact({ erase: true })`) the index has been through: an index loaded before the
   * last one may hold what deleted memories said, and is never saved over it.
   */
  readonly purges: number;
  readonly data: Uint8Array;
}

/**
 * Layout: magic "MMFS-IDX" | version u32 | CRC32C of the rest u32 | lsn f64 | log id (16 bytes) |
 * checksum of the record at lsn u32 | saved at f64 (ms) | purges u32 | provider name length u8 |
 * spec length u32 | CRC32C of the name and the spec u32 | provider name | spec (JSON; none when its
 * length is 0) | provider data.
 */
export async function writeSearchSnapshot(path: string, snapshot: SearchSnapshot, files: StoreFileSystem): Promise<void> {
  const name = Buffer.from(snapshot.provider, 'utf8');
  const json = snapshot.spec === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(snapshot.spec), 'utf8');
  const spec = json.length > MAX_SPEC_BYTES ? Buffer.alloc(0) : json;
  const buf = Buffer.alloc(FIXED_SIZE + name.length + spec.length + snapshot.data.byteLength);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(VERSION, 8);
  buf.writeDoubleLE(snapshot.lsn, 16);
  buf.write(snapshot.logId, LOG_ID_OFFSET, LOG_ID_SIZE, 'hex');
  buf.writeUInt32LE(snapshot.checksum >>> 0, CHECKSUM_OFFSET);
  buf.writeDoubleLE(snapshot.savedAt, SAVED_AT_OFFSET);
  buf.writeUInt32LE(snapshot.purges, PURGES_OFFSET);
  buf.writeUInt8(name.length, NAME_LENGTH_OFFSET);
  buf.writeUInt32LE(spec.length, SPEC_LENGTH_OFFSET);
  name.copy(buf, FIXED_SIZE);
  spec.copy(buf, FIXED_SIZE + name.length);
  buf.writeUInt32LE(crc32c(buf.subarray(FIXED_SIZE, FIXED_SIZE + name.length + spec.length)), PROVIDER_CHECKSUM_OFFSET);
  buf.set(snapshot.data, FIXED_SIZE + name.length + spec.length);
  buf.writeUInt32LE(crc32c(buf.subarray(16)), 12);
  await createFileDurably(path, buf, files);
}

/**
 * Reads a snapshot; `undefined` when it is missing, damaged or of another version (it is then rebuilt).
 * With `strict`, only a missing file is `undefined`: a read that fails, or a file that is damaged or of
 * another version, throws (for what must not take an unknown description for none).
 */
export async function readSearchSnapshot(path: string, files: Pick<StoreFileSystem, 'readFile'>, strict = false): Promise<SearchSnapshot | undefined> {
  let buf: Buffer;
  try {
    buf = await files.readFile(path);
  } catch (error) {
    if (!strict || (error as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
    throw error;
  }
  const unread = (why: string): undefined => {
    if (strict) throw new Error(`${path} ${why}`);
    return undefined;
  };
  if (buf.length < FIXED_SIZE_WITHOUT_SPEC || !buf.subarray(0, 8).equals(MAGIC) || !isReadVersion(buf.readUInt32LE(8))) return unread('is not a saved search index of a version this release reads');
  if (buf.readUInt32LE(12) !== crc32c(buf.subarray(16))) return unread('fails its checksum');
  const provider = providerPart(buf);
  if (provider === undefined || provider.end > buf.length) return unread('has a damaged provider name');
  return {
    lsn: buf.readDoubleLE(16),
    logId: buf.toString('hex', LOG_ID_OFFSET, CHECKSUM_OFFSET),
    checksum: buf.readUInt32LE(CHECKSUM_OFFSET),
    savedAt: buf.readDoubleLE(SAVED_AT_OFFSET),
    purges: buf.readUInt32LE(PURGES_OFFSET),
    provider: provider.name,
    spec: provider.spec,
    data: buf.subarray(provider.end),
  };
}

function isReadVersion(version: number): boolean {
  return version === VERSION || version === VERSION_WITHOUT_SPEC;
}

/**
 * The provider's name and spec from the start of a snapshot (`head`, of a version read, at least
 * `FIXED_SIZE_WITHOUT_SPEC` bytes long), and where they end; `end` past `head` when it is too short
 * to hold them. `undefined` when the name and spec fail their checksum (version 4).
 */
function providerPart(head: Buffer): { name: string; spec: SearchProviderSpec | undefined; end: number } | undefined {
  const nameLength = head.readUInt8(NAME_LENGTH_OFFSET);
  if (head.readUInt32LE(8) === VERSION_WITHOUT_SPEC) {
    const end = FIXED_SIZE_WITHOUT_SPEC + nameLength;
    return { name: end > head.length ? '' : head.toString('utf8', FIXED_SIZE_WITHOUT_SPEC, end), spec: undefined, end };
  }
  if (head.length < FIXED_SIZE) return { name: '', spec: undefined, end: FIXED_SIZE };
  const specStart = FIXED_SIZE + nameLength;
  const specLength = head.readUInt32LE(SPEC_LENGTH_OFFSET);
  if (specLength > MAX_SPEC_BYTES) return undefined;
  const end = specStart + specLength;
  if (end > head.length) return { name: '', spec: undefined, end };
  if (crc32c(head.subarray(FIXED_SIZE, end)) !== head.readUInt32LE(PROVIDER_CHECKSUM_OFFSET)) return undefined;
  let spec: SearchProviderSpec | undefined;
  if (end > specStart) {
    try {
      spec = checkedSpec(JSON.parse(head.toString('utf8', specStart, end)));
    } catch {
      spec = undefined;
    }
  }
  return { name: head.toString('utf8', FIXED_SIZE, specStart), spec, end };
}

/** The provider a saved index names: its name, and how it is made again by name when that was recorded. */
export interface SavedSearchProvider {
  readonly name: string;
  readonly spec?: SearchProviderSpec | undefined;
}

/**
 * Reads which provider saved the index, from the start of its file alone (the index itself is not read
 * or checked: `readSearchSnapshot` checks it all; the name and spec of version 4 have a checksum of their
 * own). `undefined` when there is none of a version read, or it is damaged.
 */
export async function readSearchSnapshotProvider(path: string, files: Pick<StoreFileSystem, 'open'>): Promise<SavedSearchProvider | undefined> {
  let handle;
  try {
    handle = await files.open(path, 'r');
    let head = Buffer.alloc(PROVIDER_READ_SIZE);
    head = head.subarray(0, (await handle.read(head, 0, head.length, 0)).bytesRead);
    if (head.length < FIXED_SIZE_WITHOUT_SPEC || !head.subarray(0, 8).equals(MAGIC) || !isReadVersion(head.readUInt32LE(8))) return undefined;
    let provider = providerPart(head);
    if (provider !== undefined && provider.end > head.length) {
      // A long spec: read up to its end (a file shorter than that is damaged).
      const whole = Buffer.alloc(provider.end);
      if ((await handle.read(whole, 0, whole.length, 0)).bytesRead < whole.length) return undefined;
      provider = providerPart(whole);
    }
    return provider && provider.name !== '' ? { name: provider.name, spec: provider.spec } : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Where a saved search index stands, read from the start of its file alone (not checked: `readSearchSnapshot` checks it all). */
export interface SearchSnapshotMark {
  readonly lsn: number;
  readonly logId: string;
  readonly purges: number;
  /** The provider that saved it (not checked). */
  readonly provider: string;
  /** The frame checksum of the record at `lsn`. */
  readonly checksum: number;
}

/**
 * Reads the LSN and log id a snapshot covers from its first bytes; `undefined` when there is none of a
 * version read. With `ioErrors`, a read that fails for another reason than a missing file throws.
 */
export async function readSearchSnapshotMark(path: string, files: Pick<StoreFileSystem, 'open'>, ioErrors = false): Promise<SearchSnapshotMark | undefined> {
  let handle;
  try {
    handle = await files.open(path, 'r');
    // (Up to the longest name: a name is at most 255 bytes.)
    const head = Buffer.alloc(FIXED_SIZE + 255);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead < FIXED_SIZE_WITHOUT_SPEC || !head.subarray(0, 8).equals(MAGIC) || !isReadVersion(head.readUInt32LE(8))) return undefined;
    const nameStart = head.readUInt32LE(8) === VERSION_WITHOUT_SPEC ? FIXED_SIZE_WITHOUT_SPEC : FIXED_SIZE;
    const nameEnd = nameStart + head.readUInt8(NAME_LENGTH_OFFSET);
    if (bytesRead < nameEnd) return undefined;
    return { lsn: head.readDoubleLE(16), logId: head.toString('hex', LOG_ID_OFFSET, CHECKSUM_OFFSET), purges: head.readUInt32LE(PURGES_OFFSET), checksum: head.readUInt32LE(CHECKSUM_OFFSET), provider: head.toString('utf8', nameStart, nameEnd) };
  } catch (error) {
    if (ioErrors && (error as NodeJS.ErrnoException)?.code !== 'ENOENT') throw error;
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
