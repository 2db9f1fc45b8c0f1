/**
 * What a saved index is: its segment files, and which segment holds the live version of a memory that
 * more than one segment holds (or that it was deleted). The store keeps these bytes with the log
 * position they cover (docs/FORMAT.md, "Search segments").
 */
export interface IndexDescription {
  /** Segment file names, in the index's folder. */
  readonly segments: readonly string[];
  /** Memory id → the position in `segments` of its live version, or -1 for a deleted memory. */
  readonly owners: ReadonlyMap<number, number>;
}

const FORMAT = 1;
const SEGMENT_FILE = /^seg-[0-9a-f]{16}\.seg$/;

/** Whether `name` is a segment file's name. */
export function isSegmentFileName(name: string): boolean {
  return SEGMENT_FILE.test(name);
}

/** Layout: JSON length u32 | JSON `{ format, segments }` | padding to 8 | owners: (id f64, position f64) × n. */
export function encodeDescription(description: IndexDescription): Uint8Array {
  const json = Buffer.from(JSON.stringify({ format: FORMAT, segments: description.segments }), 'utf8');
  const start = (4 + json.length + 7) & ~7;
  const out = Buffer.alloc(start + description.owners.size * 16);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  let at = start;
  for (const [id, position] of description.owners) {
    out.writeDoubleLE(id, at);
    out.writeDoubleLE(position, at + 8);
    at += 16;
  }
  return out;
}

/** Reads what `encodeDescription` wrote; throws on anything else. */
export function decodeDescription(bytes: Uint8Array): IndexDescription {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new Error(`not a saved segment index: ${why}`);
  if (buf.length < 4) throw bad('too short');
  const length = buf.readUInt32LE(0);
  if (4 + length > buf.length) throw bad('its header runs past its end');
  let parsed: { format?: unknown; segments?: unknown };
  try {
    parsed = JSON.parse(buf.toString('utf8', 4, 4 + length)) as typeof parsed;
  } catch {
    throw bad('its header is not JSON');
  }
  const segments = parsed.segments;
  if (parsed.format !== FORMAT) throw bad(`format ${String(parsed.format)} is not ${FORMAT}`);
  if (!Array.isArray(segments) || !segments.every((name) => typeof name === 'string' && isSegmentFileName(name))) throw bad('its segment list is not one');
  const start = (4 + length + 7) & ~7;
  if ((buf.length - start) % 16 !== 0) throw bad('its owner table is cut');
  const owners = new Map<number, number>();
  for (let at = start; at < buf.length; at += 16) {
    const position = buf.readDoubleLE(at + 8);
    if (!Number.isInteger(position) || position < -1 || position >= segments.length) throw bad(`an owner names segment ${position}`);
    owners.set(buf.readDoubleLE(at), position);
  }
  return { segments: segments as string[], owners };
}
