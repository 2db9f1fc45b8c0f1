import { adapterOptionError, checkAdapterOptions, type JsonValue, type OramaProviderOptions, type SearchDocument, type SearchHit, type SearchProvider, type SearchRequest } from '@memmapfs/core';
import { count, create, load, remove, save, search, upsert, type AnyOrama } from '@orama/orama';
import { decodeSnapshot, encodeSnapshot, snapshotError, VECTOR_PROPERTY, type VectorSection } from './snapshot.js';
import { checkVectorsOption, rankHybrid } from './vector-ranking.js';
import { WordSearchIndex } from './word-search.js';
import { createWordTokenizer } from './word-tokenizer.js';

export type { OramaProviderOptions };

/**
 * Only what is searched or filtered on is stored in Orama: less heap, smaller snapshots. With
 * `dimensions`, the embedding too, in Orama's vector index.
 */
function memorySchema(dimensions: number | undefined) {
  const base = { text: 'string', tags: 'enum[]', namespace: 'enum' } as const;
  return dimensions === undefined ? base : { ...base, [VECTOR_PROPERTY]: `vector[${dimensions}]` as const };
}

/** A memory as stored in Orama; `embedding` is `null` once Orama's vector index holds it. */
interface StoredMemory {
  id: string;
  text: string;
  tags: string[];
  namespace: string;
  embedding?: number[] | null;
}

/**
 * Creates a search provider backed by an in-memory Orama database, ranking hits by BM25, and with
 * `vectors`, by cosine similarity to an embedding.
 *
 * A multi-word query finds memories holding any of its words; those holding more of them score higher.
 * Words match by their beginning (`'mem'` finds `'memory'`).
 *
 * @example
 * await MemMapFS.init(root, { search: orama({ tolerance: 1, vectors: { dimensions: 384 } }) });
 */
export function orama(options: OramaProviderOptions = {}): SearchProvider {
  checkAdapterOptions(options, ['tolerance', 'relevance', 'vectors'], 'orama');
  const tolerance = options.tolerance ?? 0;
  if (!Number.isInteger(tolerance) || tolerance < 0) throw adapterOptionError('orama', `tolerance must be a non-negative integer; got ${JSON.stringify(tolerance)}`);
  const relevance = options.relevance;
  const dimensions = checkVectorsOption(options.vectors);
  // The options given, recorded with the saved index: a store opened later without a search option
  // makes this provider again with them (vector search of the same dimensions included).
  const given: { [key: string]: JsonValue } = {};
  if (options.tolerance !== undefined) given.tolerance = tolerance;
  if (relevance !== undefined && relevance !== null && typeof relevance === 'object') {
    const parameters: { [key: string]: JsonValue } = {};
    for (const key of ['k', 'b', 'd'] as const) if (typeof relevance[key] === 'number' && Number.isFinite(relevance[key])) parameters[key] = relevance[key];
    given.relevance = parameters;
  }
  if (dimensions !== undefined) given.vectors = { dimensions };

  // (The word tokenizer returns each word of a text once.)
  const wordSearch = new WordSearchIndex({ distinctWords: true });
  const createIndex = (): AnyOrama =>
    create({ schema: memorySchema(dimensions), sort: { enabled: false }, components: { tokenizer: createWordTokenizer(), index: wordSearch.component } });
  let index = createIndex();

  const filtersOf = (request: SearchRequest) => {
    const tags = request.tags ?? [];
    const where = {
      ...(tags.length > 0 ? { tags: { containsAll: [...tags] } } : {}),
      ...(request.namespace !== undefined ? { namespace: { eq: request.namespace } } : {}),
    };
    return Object.keys(where).length > 0 ? { where } : {};
  };

  /** The best `limit` memories by BM25; none for a query Orama cannot handle. */
  const textHits = async (request: SearchRequest, limit: number): Promise<SearchHit[]> => {
    if (request.text.trim() === '' || limit < 1) return [];
    try {
      wordSearch.limitNextSearch(limit);
      if (request.prefix === false) wordSearch.wholeWordsNextSearch();
      const results = await search(index, {
        term: request.text,
        properties: ['text'],
        limit,
        tolerance,
        ...(relevance === undefined ? {} : { relevance }),
        ...filtersOf(request),
      });
      return newerFirstOnTies(results.hits.map((hit) => ({ id: Number(hit.id), score: hit.score })));
    } catch {
      return [];
    } finally {
      wordSearch.clearNextSearch();
    }
  };

  /**
   * The best `limit` memories with an embedding by cosine similarity to `embedding`, from Orama's
   * vector search, which compares it with every one (brute force). Its `similarity` threshold is
   * `-Infinity`: every memory with an embedding is a candidate, however dissimilar.
   */
  const vectorHits = async (request: SearchRequest, embedding: Float32Array, limit: number): Promise<SearchHit[]> => {
    if (embedding.length !== dimensions || limit < 1) return [];
    const results = await search(index, {
      mode: 'vector',
      vector: { value: embedding, property: VECTOR_PROPERTY },
      similarity: Number.NEGATIVE_INFINITY,
      includeVectors: false,
      limit,
      ...filtersOf(request),
    });
    return newerFirstOnTies(results.hits.map((hit) => ({ id: Number(hit.id), score: hit.score })));
  };

  return {
    name: 'orama',
    // (BM25 over the whole index's statistics, and cosine similarity: the same whatever the filters.)
    supports: { snapshot: true, prefix: true, wholeWords: true, comparableScores: true, ...(dimensions === undefined ? {} : { vectors: { dimensions } }) },
    spec: Object.keys(given).length > 0 ? { provider: 'orama', options: given } : { provider: 'orama' },

    async add(doc: SearchDocument): Promise<void> {
      const stored: StoredMemory = { id: String(doc.id), text: doc.text, tags: [...doc.tags], namespace: doc.namespace };
      // Orama takes a vector as an array; one of another length is left out (the text is indexed all the same).
      const vectored = dimensions !== undefined && doc.embedding?.length === dimensions;
      if (vectored) stored.embedding = Array.from(doc.embedding!);
      await upsert(index, stored);
      // The vector index keeps its own Float32Array copy; Orama's own vector search nulls the stored
      // document's copy the same way (`includeVectors: false`), and `remove` still finds it by `null`.
      if (vectored) stored.embedding = null;
    },

    async remove(id: number): Promise<void> {
      await remove(index, String(id));
    },

    async search(request: SearchRequest): Promise<SearchHit[]> {
      const embedding = dimensions === undefined ? undefined : request.embedding;
      if (embedding === undefined) return textHits(request, request.limit);
      if (request.textWeight === undefined) return vectorHits(request, embedding, Math.min(request.limit, count(index)));
      // Hybrid: every candidate's text relevance and similarity are needed to find the best.
      const all = count(index);
      const [text, vector] = [await textHits(request, all), await vectorHits(request, embedding, all)];
      return rankHybrid(text, vector, request.textWeight, request.limit);
    },

    clear(): void {
      index = createIndex();
    },

    async exportSnapshot(): Promise<Uint8Array> {
      if (dimensions === undefined) return encodeSnapshot(save(index));
      // Orama's own save would write every embedding as a JSON array: they go after the JSON instead.
      const vectors = vectorsOf(index);
      const held = vectors.vectors;
      vectors.vectors = new Map();
      let data: ReturnType<typeof save>;
      try {
        data = save(index);
      } finally {
        vectors.vectors = held;
      }
      return encodeSnapshot(data, packVectors(held, dimensions));
    },

    async importSnapshot(bytes: Uint8Array): Promise<void> {
      const snapshot = decodeSnapshot(bytes, dimensions);
      const restored = createIndex();
      try {
        load(restored, snapshot.data);
        if (snapshot.vectorSection) unpackVectors(snapshot.vectorSection, vectorsOf(restored));
      } catch (cause) {
        throw snapshotError('Orama could not read it', cause);
      }
      index = restored;
    },

    close(): void {
      index = createIndex();
    },
  };
}

/** Orama's vector index (`trees/vector.js`): internal id → [magnitude, embedding]; compared by brute force. */
interface OramaVectorIndex {
  vectors: Map<number, [number, Float32Array]>;
}

function vectorsOf(db: AnyOrama): OramaVectorIndex {
  const vectorIndexes = (db.data.index as unknown as { vectorIndexes?: Record<string, { node: OramaVectorIndex }> }).vectorIndexes;
  const node = vectorIndexes?.[VECTOR_PROPERTY]?.node;
  if (!(node?.vectors instanceof Map)) throw new Error('[memmapfs] [search] [orama] Orama has no vector index where this release expects one.');
  return node;
}

function packVectors(vectors: OramaVectorIndex['vectors'], dimensions: number): VectorSection {
  const ids = new Uint32Array(vectors.size);
  const values = new Float32Array(vectors.size * dimensions);
  let at = 0;
  for (const [id, [, vector]] of vectors) {
    ids[at] = id;
    values.set(vector, at * dimensions);
    at++;
  }
  return { dimensions, ids, values };
}

/** Fills an empty vector index from a snapshot's embeddings, each a view into `values`. */
function unpackVectors(section: VectorSection, into: OramaVectorIndex): void {
  const { dimensions, ids, values } = section;
  for (let at = 0; at < ids.length; at++) {
    const vector = values.subarray(at * dimensions, (at + 1) * dimensions);
    // The magnitude as Orama computes it (`getMagnitude`), so scores match those before the snapshot.
    let sum = 0;
    for (let i = 0; i < dimensions; i++) sum += vector[i]! * vector[i]!;
    into.vectors.set(ids[at]!, [Math.sqrt(sum), vector]);
  }
}

/**
 * `hits` by descending score, equal scores the newer memory (the higher id) first, as the provider
 * contract asks: Orama sorts its results again, equal scores in the order their memories were first added.
 */
function newerFirstOnTies(hits: SearchHit[]): SearchHit[] {
  return hits.sort((a, b) => b.score - a.score || b.id - a.id);
}
