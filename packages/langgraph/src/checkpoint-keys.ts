import { MemMapError } from '@memmapfs/core';

/**
 * Where a saver keeps each thing, as KV keys under its prefix (`langgraph/` by default):
 *
 * ```
 * <prefix>checkpoint/<thread>/<ns>/<checkpoint id>                 one checkpoint: metadata, parent, the checkpoint without its channel values
 * <prefix>write/<thread>/<ns>/<checkpoint id>/<task id>/<index>     one pending write of a task
 * <prefix>channel/<thread>/<ns>/<channel>/<version>                 one version of a channel's value, shared by every checkpoint that has it
 * ```
 *
 * Each part is percent-encoded (`encodeURIComponent`), so no part contains a `/`: the keys of one
 * thread, or of one namespace, or of one checkpoint's writes, are exactly those under its prefix.
 */
export class CheckpointKeys {
  constructor(private readonly prefix: string) {}

  /** The checkpoint `id` of a thread's namespace. */
  checkpoint(thread: string, ns: string, id: string): string {
    return this.key('checkpoint', [thread, ns, id]);
  }

  /** Every checkpoint of every thread (`[]`), of a thread (`[thread]`), or of a thread's namespace. */
  checkpoints(scope: ThreadScope): string {
    return this.scope('checkpoint', scope);
  }

  /** A pending write of a task at a checkpoint; `index` is negative for special channels. */
  write(thread: string, ns: string, checkpointId: string, taskId: string, index: number): string {
    return this.key('write', [thread, ns, checkpointId, taskId, String(index)]);
  }

  /** The pending writes under `scope`; `[thread, ns, checkpointId]` for those of one checkpoint. */
  writes(scope: ThreadScope | readonly [string, string, string]): string {
    return this.scope('write', scope);
  }

  /** A version of a channel's value in a thread's namespace. */
  channelValue(thread: string, ns: string, channel: string, version: string | number): string {
    return this.key('channel', [thread, ns, channel, String(version)]);
  }

  /** The channel values under `scope`. */
  channelValues(scope: ThreadScope): string {
    return this.scope('channel', scope);
  }

  /** The parts of a key listed under `checkpoints(…)`: `[thread, ns, checkpoint id]`. */
  parseCheckpoint(key: string): [thread: string, ns: string, id: string] {
    return this.parse('checkpoint', key, 3) as [string, string, string];
  }

  /** The parts of a key listed under `writes(…)`: `[thread, ns, checkpoint id, task id, index]`. */
  parseWrite(key: string): [thread: string, ns: string, checkpointId: string, taskId: string, index: string] {
    return this.parse('write', key, 5) as [string, string, string, string, string];
  }

  private key(kind: string, parts: readonly string[]): string {
    const key = `${this.prefix}${kind}/${parts.map(encodePart).join('/')}`;
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw new MemMapError('INVALID_ARGUMENT', `[langgraph] MemMapSaver: thread_id, checkpoint_ns and the ids of a ${kind} make a KV key of ${Buffer.byteLength(key)} bytes once encoded, over the store's limit of ${MAX_KEY_BYTES}; use shorter ids.`, { subsystem: 'kv' });
    }
    return key;
  }

  private scope(kind: string, parts: readonly string[]): string {
    return parts.length === 0 ? `${this.prefix}${kind}/` : `${this.prefix}${kind}/${parts.map(encodePart).join('/')}/`;
  }

  private parse(kind: string, key: string, count: number): string[] {
    const parts = key.slice(`${this.prefix}${kind}/`.length).split('/');
    if (parts.length !== count) {
      throw new MemMapError('INVALID_ARGUMENT', `[langgraph] MemMapSaver: the KV key ${JSON.stringify(key)} is under the saver's prefix but is not one it writes; keep other keys out of ${JSON.stringify(this.prefix)}.`, { subsystem: 'kv' });
    }
    return parts.map((part) => decodeURIComponent(part));
  }
}

/** `[]` (every thread), `[thread]`, or `[thread, ns]`. */
export type ThreadScope = readonly [] | readonly [string] | readonly [string, string];

/** The longest KV key a store takes (`limits.maxKeyLength` in core). */
const MAX_KEY_BYTES = 1024;

function encodePart(part: string): string {
  try {
    return encodeURIComponent(part);
  } catch (error) {
    throw new MemMapError('INVALID_ARGUMENT', `[langgraph] MemMapSaver: ${JSON.stringify(part)} has a lone UTF-16 surrogate, which no key can hold; use well-formed strings for thread_id, checkpoint_ns, ids and channel names.`, { subsystem: 'kv', cause: error });
  }
}
