import { components, type AnyIndexStore, type BM25Params, type IIndex, type Tokenizer, type TokenScore } from '@orama/orama';
import { bestScores } from './best-scores.js';
import { matchingWords, type WordNode } from './radix-words.js';

type OramaIndex = components.index.Index;

/** Options of a `WordSearchIndex`. */
export interface WordSearchIndexOptions {
  /**
   * The tokenizer returns each word of a text once. Orama's term frequency of every word of a memory
   * is then 1 / the memory's length, which the search computes instead of reading it from Orama's
   * object per memory (a lookup that costs more than the rest of the scoring).
   */
  readonly distinctWords: boolean;
}

/**
 * Orama's index component with its `search` replaced by `searchWords`; everything else (adding,
 * removing, filters, saving and loading) is Orama's own, so the index and its snapshots are unchanged.
 */
export class WordSearchIndex {
  /** The component to give `create({ components: { index } })`. */
  readonly component: IIndex<OramaIndex>;
  #limit = Infinity;
  #wholeWords = false;

  constructor(options: WordSearchIndexOptions) {
    const { distinctWords } = options;
    const search = (
      index: AnyIndexStore,
      term: string,
      tokenizer: Tokenizer,
      language: string | undefined,
      properties: string[],
      exact: boolean,
      tolerance: number,
      boost: Partial<Record<string, number>>,
      relevance: Required<BM25Params>,
      docsCount: number,
      where: Set<number> | undefined,
    ): TokenScore[] => {
      const limit = this.#limit;
      const wholeWords = this.#wholeWords;
      this.#limit = Infinity;
      this.#wholeWords = false;
      return searchWords(index as OramaIndex, { term, tokenizer, language, properties, exact: exact || wholeWords, tolerance, boost, relevance, docsCount, where, limit, distinctWords });
    };
    this.component = { ...components.index.createIndex(), search: search as IIndex<OramaIndex>['search'] };
  }

  /**
   * Makes the next search return only its best `limit` scores. Orama sorts every score an index search
   * returns before it takes the page asked for: for a common word, most of the memories.
   */
  limitNextSearch(limit: number): void {
    this.#limit = limit;
  }

  /**
   * Makes the next search match its last word whole, not as the beginning of longer ones. (Not Orama's
   * own `exact`, which also keeps only hits whose text holds every query term as typed: case-sensitive,
   * ASCII word boundaries, after the page was cut.)
   */
  wholeWordsNextSearch(): void {
    this.#wholeWords = true;
  }

  /** Drops what was asked for the next search, should Orama have failed before running it. */
  clearNextSearch(): void {
    this.#limit = Infinity;
    this.#wholeWords = false;
  }
}

/** What Orama passes an index search, and how many of the best scores to return. */
export interface WordQuery {
  readonly term: string;
  readonly tokenizer: Tokenizer;
  readonly language: string | undefined;
  readonly properties: readonly string[];
  readonly exact: boolean;
  readonly tolerance: number;
  readonly boost: Partial<Record<string, number>>;
  readonly relevance: Required<BM25Params>;
  readonly docsCount: number;
  /** Only these memories (Orama's internal ids) can be hits, when given. */
  readonly where: Set<number> | undefined;
  readonly limit: number;
  /** See `WordSearchIndexOptions`. */
  readonly distinctWords: boolean;
}

/**
 * Scores memories for a query as Orama's own index search does (its BM25 with `relevance`, summed over
 * the matched words, `boost` per property, only among `where`) and returns the best `limit`, ties to
 * the older memory as Orama orders them. It differs in what it matches and in what it costs:
 *
 * - Every query word but the last matches whole words only (within `tolerance` edits); the last one
 *   also matches the words it begins (with `exact`, it does not). Orama matches every word as a prefix.
 * - Matched words are found by walking Orama's radix tree, without Orama's collection of their
 *   memories into arrays with a linear duplicate check (`findAllWords`), which costs seconds for a word
 *   held by most of 100,000 memories; scores add up in an array indexed by Orama's internal ids.
 *
 * Hits hold any of the words (Orama's default `threshold`, 1).
 */
export function searchWords(index: OramaIndex, query: WordQuery): TokenScore[] {
  const words = query.tokenizer.tokenize(query.term, query.language, undefined, false);
  const { k, b, d } = query.relevance;
  const where = query.where;
  const size = index.sharedInternalDocumentStore.internalIdToId.length + 1;
  const scores = new Float64Array(size);
  const held = new Uint8Array(size);
  const touched: number[] = [];
  for (const property of query.properties) {
    const tree = index.indexes[property];
    if (tree?.type !== 'Radix') continue;
    const root = tree.node as unknown as WordNode;
    const weight = query.boost[property] ?? 1;
    const frequencies = index.frequencies[property] ?? {};
    const occurrences = index.tokenOccurrences[property] ?? {};
    const lengths = index.fieldLengths[property] ?? {};
    const averageLength = index.avgFieldLength[property] ?? 1;
    words.forEach((word, i) => {
      const asPrefix = !query.exact && i === words.length - 1;
      for (const node of matchingWords(root, word, asPrefix, query.tolerance)) {
        const holders = numberOrZero(occurrences[node.w]);
        const idf = Math.log(1 + (query.docsCount - holders + 0.5) / (holders + 0.5));
        for (const id of node.d) {
          if (id >= size || (where !== undefined && !where.has(id))) continue;
          // Orama's BM25 (`components/algorithms.js`).
          const length = numberOrZero(lengths[id]);
          const frequency = query.distinctWords ? (length > 0 ? 1 / length : 0) : numberOrZero(frequencies[id]?.[node.w]);
          const score = ((idf * (d + frequency * (k + 1))) / (frequency + k * (1 - b + (b * length) / averageLength))) * weight;
          if (held[id] === 0) {
            held[id] = 1;
            touched.push(id);
          }
          scores[id] = scores[id]! + score;
        }
      }
    });
  }
  const memoryIds = index.sharedInternalDocumentStore.internalIdToId;
  return bestScores(touched, scores, query.limit, (id) => Number(memoryIds[id - 1]));
}

/** Orama keeps statistics in plain objects: a word such as `constructor` or `__proto__` reads what they inherit. */
function numberOrZero(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
