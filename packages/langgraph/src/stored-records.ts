/**
 * The KV values a saver writes (see `CheckpointKeys` for their keys). Serialized parts are the
 * saver's `serde` output, kept as bytes with the type `serde.loadsTyped` needs to read them back.
 */

/** One checkpoint. Its channel values are stored apart, by channel and version (`ChannelValueRecord`). */
export interface CheckpointRecord {
  /** The checkpoint this one was made from, in the same thread and namespace; `null` for the first. */
  parentId: string | null;
  /** `serde` type of `checkpoint`. */
  checkpointType: string;
  /** The checkpoint with `channel_values` emptied. */
  checkpoint: Uint8Array;
  /** `serde` type of `metadata`. */
  metadataType: string;
  metadata: Uint8Array;
}

/** One pending write of a task, made against a checkpoint. */
export interface WriteRecord {
  taskId: string;
  /** The task's path (`''` when none was given): writes are returned ordered by path, task id, index. */
  taskPath: string;
  /** Position in the task's writes, or the negative index of a special channel (`WRITES_IDX_MAP`). */
  index: number;
  channel: string;
  type: string;
  value: Uint8Array;
}

/**
 * A channel's value at one version. `type` and `value` are `null` when the channel was updated to no
 * value at that version (it is then absent from the checkpoint's `channel_values`).
 */
export interface ChannelValueRecord {
  type: string | null;
  value: Uint8Array | null;
}
