import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { MemMapError } from '@memmapfs/core';
import { textsAtPath } from './embedded-text.js';
import { describeValue } from './adapter-errors.js';

/** What turns texts into embeddings: LangChain `Embeddings` (or anything with its two methods), or a function. */
export type EmbedOption = EmbeddingsInterface | ((texts: string[]) => Promise<number[][]>);

/** One text of an item to embed: where it is in the value (as LangGraph names it) and the text. */
export interface FieldText {
  /** The path it was found at: a path of `fields`, with `.<n>` when the path gives several texts. */
  field: string;
  text: string;
}

/** One embedded text of an item. */
export interface FieldVector {
  field: string;
  embedding: number[];
}

/**
 * The embeddings of a `MemMapStore` with `index` (LangGraph's semantic search): which texts of a value
 * are embedded (`textsAtPath`, as LangGraph's `InMemoryStore` takes them), and the embeddings of those
 * texts and of queries, checked.
 */
export class ItemEmbeddings {
  private constructor(
    /** The length of every embedding. */
    readonly dims: number,
    /** The paths embedded when a put gives no `index` of its own. */
    readonly fields: readonly string[],
    private readonly embed: EmbedOption,
  ) {}

  /** Checks the `index` option of the constructor. */
  static fromOption(index: unknown): ItemEmbeddings {
    if (typeof index !== 'object' || index === null) throw indexError('constructor', `index must be an object: { dims, embed, fields? }, got ${index === null ? 'null' : typeof index}.`);
    const { dims, embed, fields = ['$'] } = index as { dims?: unknown; embed?: unknown; fields?: unknown };
    if (typeof dims !== 'number' || !Number.isSafeInteger(dims) || dims < 1) {
      throw indexError('constructor', `index.dims must be a positive integer, the length of your model's embeddings (e.g. 1536), got ${describeValue(dims)}.`);
    }
    if (embed === undefined && 'embeddings' in index) {
      throw indexError('constructor', 'index.embed is missing: MemMapStore takes the embeddings model as index.embed (as PostgresStore does), not index.embeddings.');
    }
    const methods = embed as Partial<EmbeddingsInterface> | null;
    if (typeof embed !== 'function' && (typeof methods !== 'object' || methods === null || typeof methods.embedDocuments !== 'function')) {
      throw indexError('constructor', 'index.embed must be LangChain Embeddings (with embedDocuments and embedQuery) or a function (texts: string[]) => Promise<number[][]>.');
    }
    if (!Array.isArray(fields) || fields.some((field) => typeof field !== 'string' || field.length === 0)) {
      throw indexError('constructor', `index.fields must be an array of paths into the value, e.g. ['$'] (the whole value, the default), ['text'], ['title', 'chapters[*].text'], got ${JSON.stringify(fields)}.`);
    }
    return new ItemEmbeddings(dims, [...(fields as string[])], embed as EmbedOption);
  }

  /**
   * The texts of `value` to embed: at the put's own `index` paths, or at `fields`. Blank texts are
   * left out, and a text found twice is embedded once.
   */
  textsOf(value: Record<string, unknown>, index: readonly string[] | undefined): FieldText[] {
    const found: FieldText[] = [];
    const seen = new Set<string>();
    for (const path of index ?? this.fields) {
      const texts = textsAtPath(value, path);
      texts.forEach((text, i) => {
        if (text.trim().length === 0 || seen.has(text)) return;
        seen.add(text);
        found.push({ field: texts.length > 1 ? `${path}.${i}` : path, text });
      });
    }
    return found;
  }

  /**
   * The embedding of each text, in one call of `embed` (each distinct text once). An all-zero
   * embedding has no direction to compare by: it is `undefined`, and the text ranks nothing.
   */
  async embedDocuments(texts: readonly string[], method: string): Promise<Map<string, number[] | undefined>> {
    const distinct = [...new Set(texts)];
    const embeddings = new Map<string, number[] | undefined>();
    if (distinct.length === 0) return embeddings;
    const returned: unknown = typeof this.embed === 'function' ? await this.embed(distinct) : await this.embed.embedDocuments(distinct);
    if (!Array.isArray(returned) || returned.length !== distinct.length) {
      throw indexError(method, `index.embed returned ${Array.isArray(returned) ? `${returned.length} embeddings` : typeof returned} for ${distinct.length} texts; it must return one embedding per text, in order.`);
    }
    distinct.forEach((text, i) => {
      const embedding = this.checked(returned[i], text, method);
      embeddings.set(text, embedding.every((n) => n === 0) ? undefined : embedding);
    });
    return embeddings;
  }

  /**
   * The embedding of a search query (`embedQuery`, or `embed([query])` for a function); `undefined`
   * when it is all zeros (no direction: it ranks nothing).
   */
  async embedQuery(query: string, method: string): Promise<number[] | undefined> {
    const returned: unknown = typeof this.embed === 'function'
      ? (await this.embed([query]))?.[0]
      : typeof this.embed.embedQuery === 'function' ? await this.embed.embedQuery(query) : (await this.embed.embedDocuments([query]))?.[0];
    const embedding = this.checked(returned, query, method);
    return embedding.every((n) => n === 0) ? undefined : embedding;
  }

  private checked(embedding: unknown, text: string, method: string): number[] {
    const numbers = Array.isArray(embedding) || ArrayBuffer.isView(embedding) ? Array.from(embedding as ArrayLike<unknown>) : undefined;
    if (numbers === undefined) throw indexError(method, `index.embed returned ${embedding === null ? 'null' : typeof embedding} for ${preview(text)}; an embedding is an array of numbers.`);
    if (numbers.length !== this.dims) {
      throw indexError(method, `index.embed returned an embedding of ${numbers.length} numbers for ${preview(text)}, and index.dims is ${this.dims}: set dims to the length of your model's embeddings (and open the store with a search provider of that many dimensions).`);
    }
    const bad = numbers.findIndex((n) => typeof n !== 'number' || !Number.isFinite(n));
    if (bad !== -1) throw indexError(method, `index.embed returned ${String(numbers[bad])} at index ${bad} of the embedding of ${preview(text)}; every number must be finite.`);
    return numbers as number[];
  }
}

/** An `INVALID_ARGUMENT` about `index`, in the adapter's error style. */
export function indexError(method: string, message: string, cause?: unknown): MemMapError {
  return new MemMapError('INVALID_ARGUMENT', `[langgraph] MemMapStore.${method}: ${message}`, { subsystem: 'search', ...(cause === undefined ? {} : { cause }) });
}

function preview(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
