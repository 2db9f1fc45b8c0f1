import { invalidArgument } from './adapter-errors.js';

/**
 * Where a `MemMapStore` keeps an item (see the README's "What maps to what"):
 *
 * ```
 * memory, namespace <root>/<label>/<label>…      the item: text = its indexed text, meta = ItemMeta,
 *                                                embedding = that of its first embedded text (with index)
 * memory, same namespace                         one more embedded text of the item (with index): text '-',
 *                                                meta = ItemMeta & { field }, embedding = the text's
 * KV <root>/item/<labels>/<key>                  ItemPointer: the id of the item's current memory, its expiry
 * KV <root>/ttl/<labels>/<key>                   ItemRefresh: an expiry pushed back by a read (earlier releases)
 * ```
 *
 * A label is kept with `%` and `/` percent-encoded (`%25`, `%2F`), so any LangGraph label is one
 * segment of the memory's namespace and reads back unchanged; in KV keys the labels (as in the memory
 * namespace, joined by `/`) and the key are each `encodeURIComponent`-encoded, so neither holds a `/`.
 */
export class ItemLayout {
  constructor(readonly root: string) {}

  /** The memory namespace of a LangGraph namespace (the root alone for `[]`). */
  memoryNamespace(namespace: readonly string[], method: string): string {
    const joined = [this.root, ...namespace.map(escapeLabel)].join('/');
    if (joined.length > MAX_NAMESPACE_LENGTH) {
      throw invalidArgument(method, `the namespace ${JSON.stringify(namespace)} is ${joined.length} characters long once stored (under ${JSON.stringify(this.root)}, with '/' and '%' in labels encoded); at most ${MAX_NAMESPACE_LENGTH}. Use shorter labels.`, 'MemMapStore');
    }
    return joined;
  }

  /** The LangGraph namespace of a memory namespace under the root; `undefined` for one that is not. */
  itemNamespace(memoryNamespace: string): string[] | undefined {
    const segments = memoryNamespace.split('/');
    if (segments[0] !== this.root || segments.length < 2) return undefined;
    return segments.slice(1).map(unescapeLabel);
  }

  /** The KV key of an item's pointer (`memoryNamespace` is under the root). */
  pointerKey(memoryNamespace: string, key: string, method: string): string {
    return this.kvKey('item', memoryNamespace, key, method);
  }

  /** The KV key of an item's refreshed expiry. */
  refreshKey(memoryNamespace: string, key: string, method: string): string {
    return this.kvKey('ttl', memoryNamespace, key, method);
  }

  private kvKey(kind: string, memoryNamespace: string, key: string, method: string): string {
    const labels = memoryNamespace.slice(this.root.length + 1);
    let encodedLabels: string;
    let encodedKey: string;
    try {
      encodedLabels = encodeURIComponent(labels);
    } catch {
      throw invalidArgument(method, `the namespace ${JSON.stringify(labels)} has a lone UTF-16 surrogate, which no key can hold; use well-formed strings.`, 'MemMapStore');
    }
    try {
      encodedKey = encodeURIComponent(key);
    } catch {
      throw invalidArgument(method, `the key ${JSON.stringify(key)} has a lone UTF-16 surrogate, which no key can hold; use a well-formed string.`, 'MemMapStore');
    }
    const encoded = `${this.root}/${kind}/${encodedLabels}/${encodedKey}`;
    const bytes = Buffer.byteLength(encoded);
    if (bytes > MAX_KEY_BYTES) {
      throw invalidArgument(method, `the namespace and key make a KV key of ${bytes} bytes once percent-encoded (the namespace ${encodedLabels.length}, the key ${encodedKey.length}), over the store's limit of ${MAX_KEY_BYTES}; use ${encodedLabels.length >= encodedKey.length ? 'a shorter namespace (a letter outside ASCII takes 6 to 12 bytes)' : 'a shorter key'}.`, 'MemMapStore');
    }
    return encoded;
  }
}

/** What the KV pointer of an item holds: which memory is the item now. */
export interface ItemPointer {
  /** The id of the memory that holds the item's current value. */
  id: number;
  /** When the item was first put (ms since the epoch); kept by later puts of the same key. */
  createdAt: number;
  /** When the item expires (ms): as put, or later as a read pushed it back; `null` without a TTL. */
  expiresAt: number | null;
  /** The ids of the memories that hold the item's other embedded texts (`index`); absent when none. */
  vectors?: number[];
}

/**
 * An expiry pushed back by a read (`refreshOnRead`) of an earlier release, which kept it apart from the
 * pointer: it counts only while `id` is the item's memory. Read still, no longer written; sweeps remove it.
 */
export interface ItemRefresh {
  id: number;
  expiresAt: number;
}

/** The `meta` of an item's memory (and, with `field`, of the memories of its other embeddings). */
export interface ItemMeta {
  key: string;
  value: Record<string, unknown>;
  createdAt: number;
  /** When this version was put (absent in items put by earlier releases: the memory's `createdAt` then). */
  updatedAt?: number;
  /** The item's TTL in minutes, or `null`. */
  ttlMinutes: number | null;
  expiresAt: number | null;
  /** (Only in a memory of one more embedded text.) Where the text is in the value, e.g. `'chapters[*].text.1'`. */
  field?: string;
}

/** Every memory of an item: the one that holds it, and those of its other embeddings. */
export function memoriesOf(pointer: ItemPointer): number[] {
  return pointer.vectors === undefined ? [pointer.id] : [pointer.id, ...pointer.vectors];
}

/** Whether a memory is one of an item's (its own or one of its embeddings') by the item's pointer. */
export function pointerNames(pointer: ItemPointer, id: number): boolean {
  return pointer.id === id || (pointer.vectors?.includes(id) ?? false);
}

/** When an item expires: as put, or later if a read pushed it back; `Infinity` without a TTL. */
export function expiryOf(pointer: ItemPointer, refresh: ItemRefresh | undefined): number {
  if (pointer.expiresAt === null) return Infinity;
  return refresh !== undefined && refresh.id === pointer.id ? Math.max(pointer.expiresAt, refresh.expiresAt) : pointer.expiresAt;
}

/** `limits.maxNamespaceLength` of core. */
const MAX_NAMESPACE_LENGTH = 256;
/** `limits.maxKeyLength` of core. */
const MAX_KEY_BYTES = 1024;

function escapeLabel(label: string): string {
  return label.replace(/%/g, '%25').replace(/\//g, '%2F');
}

function unescapeLabel(segment: string): string {
  return segment.replace(/%2F|%25/g, (escape) => (escape === '%2F' ? '/' : '%'));
}
