import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { MemMapError, type NewMemory } from '@memmapfs/core';
import { labelOptions, positiveInteger, stringOption } from '../arguments.js';
import type { InputStream, StoreCommand } from '../command.js';
import { CommandFailure, UsageError } from '../failures.js';

const formats = ['jsonl', 'lines'] as const;
type Format = (typeof formats)[number];

/** Memories per `appendMemories` call (one commit) when `--batch` is not given. */
export const defaultImportBatch = 1000;

/** The fields a JSONL line may have. */
const itemFields: ReadonlySet<string> = new Set(['text', 'tags', 'namespace', 'meta', 'ttlMs']);

/** What `import` prints: `firstId` and `lastId` are null when nothing was imported. */
export interface ImportResult {
  readonly imported: number;
  readonly firstId: number | null;
  readonly lastId: number | null;
}

/** What every imported memory gets from the command line. */
interface Overrides {
  readonly tags: readonly string[];
  readonly namespace: string | undefined;
}

/** A line that cannot be imported; the import stops before writing its batch. */
class BadLine extends Error {
  constructor(readonly line: number, reason: string) {
    super(reason.replace(/\.$/, ''));
  }
}

/**
 * `memmapfs import [FILE]`: reads memories from a file or stdin, one per line, and appends them in
 * batches (one commit each) while streaming, so the input is never held whole in memory.
 */
export const importCommand: StoreCommand = {
  path: ['import'],
  summary: 'Import memories from a file or stdin, one per line (JSON lines or plain text)',
  arguments: [{ name: 'FILE', optional: true, description: "The file to read; '-' or none reads stdin" }],
  options: {
    format: {
      type: 'string',
      valueName: 'jsonl|lines',
      description: 'jsonl (default): each line a JSON object {text, tags?, namespace?, meta?, ttlMs?} or a JSON string; lines: each line a text',
    },
    tag: { type: 'string', multiple: true, valueName: 'T', description: "A tag added to every memory, besides the line's own" },
    namespace: { type: 'string', valueName: 'NS', description: "Namespace of every memory (replaces the line's own). Default: the line's, else default" },
    batch: { type: 'string', valueName: 'N', description: `Memories per commit. Default: ${defaultImportBatch}` },
  },
  store: 'existing',
  prepare(args) {
    const file = args.positionals[0];
    const format = stringOption(args, 'format') ?? 'jsonl';
    if (!(formats as readonly string[]).includes(format)) throw new UsageError(`--format must be ${formats.join(' or ')}, got '${format}'`);
    const { tags, namespace } = labelOptions(args);
    const batchOption = stringOption(args, 'batch');
    const batchSize = batchOption === undefined ? defaultImportBatch : positiveInteger(batchOption, '--batch');
    const overrides: Overrides = { tags, namespace };

    return async (store, output, context) => {
      const input = await openInput(file, context.cwd, context.stdin);
      const progress = output.progress();
      let imported = 0;
      let firstId: number | null = null;
      let lastId: number | null = null;
      let lastWrittenLine = 0;
      let batch: NewMemory[] = [];
      let batchLines: number[] = [];

      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        let ids: number[];
        try {
          ids = await store.appendMemories(batch);
        } catch (error) {
          throw lineOfRejectedItem(error, batchLines) ?? error;
        }
        imported += ids.length;
        firstId ??= ids[0]!;
        lastId = ids.at(-1)!;
        lastWrittenLine = batchLines.at(-1)!;
        batch = [];
        batchLines = [];
        progress.update(`imported ${imported}`);
      };

      const reader = createInterface({ input: input.stream, crlfDelay: Infinity });
      const lines = reader[Symbol.asyncIterator]();
      try {
        for (let lineNumber = 1; ; lineNumber++) {
          let next: IteratorResult<string>;
          try {
            next = await lines.next();
          } catch (error) {
            throw new CommandFailure('INPUT_UNREADABLE', `cannot read ${input.name}: ${(error as Error).message}`);
          }
          if (next.done) break;
          const line = lineNumber === 1 ? next.value.replace(/^\uFEFF/, '') : next.value;
          if (line.trim() === '') continue;
          batch.push(parseLine(line, lineNumber, format as Format, overrides));
          batchLines.push(lineNumber);
          if (batch.length >= batchSize) await flush();
        }
        await flush();
      } catch (error) {
        progress.end();
        if (output.json) output.result({ imported, firstId, lastId } satisfies ImportResult, () => []);
        if (error instanceof BadLine) {
          const before = imported === 0 ? 'nothing imported' : `imported ${plural(imported)} (input lines 1–${lastWrittenLine}) before it`;
          throw new CommandFailure('INVALID_INPUT', `line ${error.line}: ${error.message}; ${before}`);
        }
        throw error;
      } finally {
        progress.end();
        reader.close();
        input.close();
      }
      const result: ImportResult = { imported, firstId, lastId };
      output.result(result, () => [
        `imported ${plural(imported)}${firstId === null ? '' : firstId === lastId ? ` (id ${firstId})` : ` (ids ${firstId}–${lastId})`}`,
      ]);
    };
  },
};

const plural = (count: number): string => `${count} ${count === 1 ? 'memory' : 'memories'}`;

interface Input {
  readonly stream: NodeJS.ReadableStream;
  /** `'stdin'`, or the file as given. */
  readonly name: string;
  close(): void;
}

async function openInput(file: string | undefined, cwd: string, stdin: () => InputStream): Promise<Input> {
  if (file === undefined || file === '-') return { stream: stdin(), name: 'stdin', close: () => {} };
  let handle;
  try {
    handle = await open(resolve(cwd, file), 'r');
  } catch (error) {
    throw new CommandFailure('INPUT_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`);
  }
  const stream = handle.createReadStream();
  return { stream, name: file, close: () => stream.destroy() };
}

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;

/** One memory from one non-empty line, with the command line's tags and namespace applied. */
function parseLine(line: string, lineNumber: number, format: Format, overrides: Overrides): NewMemory {
  if (format === 'lines') return withOverrides({ text: line }, overrides);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new BadLine(lineNumber, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof value === 'string') return withOverrides({ text: value }, overrides);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadLine(lineNumber, `expected a JSON object {"text": …} or a JSON string, got ${describe(value)}`);
  }
  const item = value as Record<string, unknown>;
  const unknown = Object.keys(item).find((key) => !itemFields.has(key));
  if (unknown !== undefined) throw new BadLine(lineNumber, `unknown field "${unknown}" (a line has text, tags?, namespace?, meta?, ttlMs?)`);
  if (typeof item.text !== 'string') throw new BadLine(lineNumber, `"text" must be a string, got ${item.text === undefined ? 'none' : describe(item.text)}`);
  if (item.tags !== undefined && !(Array.isArray(item.tags) && item.tags.every((tag) => typeof tag === 'string'))) {
    throw new BadLine(lineNumber, `"tags" must be an array of strings, got ${describe(item.tags)}`);
  }
  if (item.namespace !== undefined && typeof item.namespace !== 'string') throw new BadLine(lineNumber, `"namespace" must be a string, got ${describe(item.namespace)}`);
  if (item.meta !== undefined && (typeof item.meta !== 'object' || item.meta === null || Array.isArray(item.meta))) {
    throw new BadLine(lineNumber, `"meta" must be a JSON object, got ${describe(item.meta)}`);
  }
  if (item.ttlMs !== undefined && typeof item.ttlMs !== 'number') throw new BadLine(lineNumber, `"ttlMs" must be a number, got ${describe(item.ttlMs)}`);
  return withOverrides(item as unknown as NewMemory, overrides);
}

function withOverrides(item: NewMemory, overrides: Overrides): NewMemory {
  const tags = [...(item.tags ?? []), ...overrides.tags];
  const namespace = overrides.namespace ?? item.namespace;
  return {
    text: item.text,
    ...(tags.length > 0 ? { tags } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(item.meta !== undefined ? { meta: item.meta } : {}),
    ...(item.ttlMs !== undefined ? { ttlMs: item.ttlMs } : {}),
  };
}

/**
 * A value core refused in a batch (`appendMemories: item I: …`; nothing of the batch was written),
 * as the input line it came from; undefined for any other failure.
 */
function lineOfRejectedItem(error: unknown, batchLines: readonly number[]): BadLine | undefined {
  if (!MemMapError.is(error) || (error.code !== 'INVALID_ARGUMENT' && error.code !== 'TEXT_TOO_LARGE')) return undefined;
  const match = /appendMemories: item (\d+): (.*)$/s.exec(error.message);
  const line = match ? batchLines[Number(match[1])] : undefined;
  return line === undefined ? undefined : new BadLine(line, match![2]!);
}
