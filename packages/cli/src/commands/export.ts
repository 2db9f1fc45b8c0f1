import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { AgentState } from '@memmapfs/core';
import type { Command } from '../command.js';
import { CommandFailure } from '../failures.js';
import { exportFormat, exportVersion, type ExportLine } from '../export-format.js';
import { memoryJson, toTaggedJson } from '../json-value.js';

/** Memories read per `listMemories` page while exporting. */
const exportPage = 1000;

/** What `export FILE` prints. */
export interface ExportResult {
  readonly file: string;
  readonly memories: number;
  readonly kvKeys: number;
  readonly streams: number;
}

/**
 * `memmapfs export [FILE]`: writes every live memory (id, text, tags, namespace, meta, times, expiry,
 * embedding as an array of numbers), every KV entry, every stream (a line per chunk) and the agent
 * state as JSON Lines, to FILE (written whole, then renamed into place) or stdout. `import` reads it
 * back, ids included.
 */
export const exportCommand: Command = {
  path: ['export'],
  summary: 'Write every live memory, KV entry, stream and the state as JSON lines, to FILE or stdout; import reads it back',
  arguments: [{ name: 'FILE', optional: true, description: "The file to write (replaced once complete); '-' or none writes to stdout" }],
  options: {},
  examples: ['memmapfs export backup.jsonl', 'memmapfs export | gzip > backup.jsonl.gz', 'memmapfs --root ./old export | memmapfs --root ./new import'],
  store: 'read',
  prepare(args) {
    const file = args.positionals[0] === '-' ? undefined : args.positionals[0];
    return async (store, output, context) => {
      const target = file === undefined ? undefined : resolve(context.cwd, file);
      const sink = target === undefined ? undefined : await openTarget(target);
      const write = async (line: ExportLine): Promise<void> => {
        const text = `${JSON.stringify(line)}\n`;
        if (sink) {
          if (!sink.stream.write(text)) await once(sink.stream, 'drain');
        } else {
          await output.stream(text);
        }
      };
      const stats = store.stats();
      const progress = output.progress('export', 'entries');
      let memories = 0;
      let kvKeys = 0;
      let streams = 0;
      try {
        const total = stats.memories + stats.kvKeys + stats.streams;
        progress.update(0, total);
        await write({ type: 'header', format: exportFormat, version: exportVersion, exportedAt: Date.now() });
        let cursor: string | undefined;
        do {
          const page = await store.listMemories({ limit: exportPage, ...(cursor !== undefined ? { cursor } : {}) });
          for (const memory of page.memories) {
            await write({ type: 'memory', ...memoryJson(memory) });
            memories++;
          }
          progress.update(memories, Math.max(total, memories + kvKeys));
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        for (const key of store.listKv()) {
          const value = store.getKv(key);
          // (Deleted by another process meanwhile.)
          if (value === undefined) continue;
          await write({ type: 'kv', key, value: toTaggedJson(value) });
          if (++kvKeys % 1000 === 0) progress.update(memories + kvKeys, Math.max(total, memories + kvKeys));
        }
        for (const key of store.listStreams()) {
          let chunks = 0;
          for await (const chunk of store.openRead(key)) {
            await write({ type: 'stream', key, base64: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('base64') });
            chunks++;
          }
          // (Deleted by another process meanwhile: no line.)
          if (chunks > 0) streams++;
          progress.update(memories + kvKeys + streams, Math.max(total, memories + kvKeys + streams));
        }
        await write({ type: 'state', state: toTaggedJson(store.getState()) as AgentState });
        if (sink) await sink.commit();
      } catch (error) {
        await sink?.discard();
        throw error;
      } finally {
        progress.end();
      }
      if (target !== undefined) {
        const result: ExportResult = { file: target, memories, kvKeys, streams };
        output.result(result, () => [`exported ${memories} memor${memories === 1 ? 'y' : 'ies'}, ${kvKeys} KV key${kvKeys === 1 ? '' : 's'}, ${streams} stream${streams === 1 ? '' : 's'} and the state to ${target}`]);
      }
    };
  },
};

interface Target {
  readonly stream: WriteStream;
  /** Closes the temporary file and renames it to the target. */
  commit(): Promise<void>;
  /** Closes and removes the temporary file. */
  discard(): Promise<void>;
}

/** A temporary file beside `target`, renamed to it once the export is complete. */
async function openTarget(target: string): Promise<Target> {
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  const stream = createWriteStream(temporary, { flags: 'wx' });
  try {
    await once(stream, 'open');
  } catch (error) {
    throw new CommandFailure('OUTPUT_UNWRITABLE', `cannot write ${target}: ${(error as Error).message}`);
  }
  const close = async (): Promise<void> => {
    if (stream.closed) return;
    stream.end();
    await once(stream, 'close');
  };
  return {
    stream,
    async commit() {
      try {
        await close();
        await rename(temporary, target);
      } catch (error) {
        throw new CommandFailure('OUTPUT_UNWRITABLE', `cannot write ${target}: ${(error as Error).message}`);
      }
    },
    async discard() {
      await close().catch(() => undefined);
      await rm(temporary, { force: true });
    },
  };
}
