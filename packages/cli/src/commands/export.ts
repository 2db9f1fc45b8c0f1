import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, chown, lstat, realpath, rename, rm } from 'node:fs/promises';
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
  examples: ['memmapfs export backup.jsonl', 'memmapfs export | gzip > backup.jsonl.gz', 'memmapfs --root ./new init && memmapfs --root ./old export | memmapfs --root ./new import'],
  store: 'read',
  prepare(args) {
    const file = args.positionals[0] === '-' ? undefined : args.positionals[0];
    return async (store, output, context) => {
      const target = file === undefined ? undefined : resolve(context.cwd, file);
      const sink = target === undefined ? undefined : await openTarget(target);
      // Ctrl-C or SIGTERM stops it between two lines: the temporary file goes, the target stays as it was.
      const interrupted = (): CommandFailure => new CommandFailure('INTERRUPTED', `the export was stopped before it was complete; ${target === undefined ? 'what was written to stdout is not a whole export' : `${target} was left as it was`}`);
      const write = async (line: ExportLine): Promise<void> => {
        if (context.signal.aborted) throw interrupted();
        const text = `${JSON.stringify(line)}\n`;
        if (sink) {
          if (!sink.stream.write(text)) await once(sink.stream, 'drain');
        } else {
          await output.stream(text);
        }
      };
      const stats = store.stats();
      // (Listened to, so that the signal stops the export here rather than end the process at once.)
      const onStop = (): void => undefined;
      context.signal.addEventListener('abort', onStop);
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
        if (context.signal.aborted) throw interrupted();
        if (sink) await sink.commit();
      } catch (error) {
        await sink?.discard();
        throw error;
      } finally {
        context.signal.removeEventListener('abort', onStop);
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
  /** Closes the file written and renames it to the target (when it is a temporary file). */
  commit(): Promise<void>;
  /** Closes the file written and removes it (when it is a temporary file). */
  discard(): Promise<void>;
}

/**
 * Where the export of `target` is written. A regular file (or none yet): a temporary file beside it,
 * with its permissions (and, for root, its owner), renamed to it once the export is complete. A
 * symbolic link: the file it names, so (the link stays). Anything else (a named pipe, a device):
 * written into directly, as a shell's `>` does.
 */
async function openTarget(target: string): Promise<Target> {
  const unwritable = (error: unknown) => new CommandFailure('OUTPUT_UNWRITABLE', `cannot write ${target}: ${(error as Error).message}`);
  const found = await lstat(target).catch(() => undefined);
  if (found?.isSymbolicLink()) {
    const named = await realpath(target).catch(() => undefined);
    // (A link to nothing yet: written through, creating the file it names.)
    if (named !== undefined) return openTarget(named);
  }
  if (found?.isDirectory()) throw new CommandFailure('OUTPUT_UNWRITABLE', `cannot write ${target}: it is a folder; give a file name`);
  const inPlace = found !== undefined && !found.isFile();
  const path = inPlace ? target : join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  // (Made with the permissions it replaces from the start: no moment when others may read it.)
  const stream = createWriteStream(path, { flags: inPlace ? 'w' : 'wx', ...(found?.isFile() ? { mode: found.mode & 0o777 } : {}) });
  try {
    await once(stream, 'open');
    if (!inPlace && found?.isFile()) {
      // (The process's umask may have taken bits off; root keeps the file's owner.)
      await chmod(path, found.mode & 0o7777);
      if (process.getuid?.() === 0) await chown(path, found.uid, found.gid).catch(() => undefined);
    }
  } catch (error) {
    if (!inPlace) await rm(path, { force: true }).catch(() => undefined);
    throw unwritable(error);
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
        if (!inPlace) await rename(path, target);
      } catch (error) {
        throw unwritable(error);
      }
    },
    async discard() {
      await close().catch(() => undefined);
      if (!inPlace) await rm(path, { force: true });
    },
  };
}
