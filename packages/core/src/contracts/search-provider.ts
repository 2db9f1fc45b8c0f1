/** A memory as a search provider sees it: what it indexes and filters on. */
export interface SearchDocument {
  /** The memory id; unique in the store. */
  readonly id: number;
  /** Full text to index. Never empty. */
  readonly text: string;
  /** Exact-match labels. Not tokenized: `'project:alpha'` is one tag. */
  readonly tags: readonly string[];
  /** Namespace the memory lives in (`'default'` unless the caller chose one). */
  readonly namespace: string;
  /**
   * The caller's embedding of the memory, when it gave one. A provider with `supports.vectors` indexes
   * it; one whose length is not `supports.vectors.dimensions` is left out of vector search (the text
   * is indexed all the same), never an error: the store checks lengths when memories are written.
   */
  readonly embedding?: Float32Array;
}

/** One search request, already validated by the store. */
export interface SearchRequest {
  /**
   * The user's query text, trimmed; non-empty unless `embedding` is given. Any characters may appear:
   * never throw on it.
   */
  readonly text: string;
  /** Maximum number of hits to return (1 or more). */
  readonly limit: number;
  /** Every one of these tags must be on a hit (AND). Empty or absent: no tag filter. */
  readonly tags?: readonly string[];
  /** Only hits in this namespace. Absent: every namespace. */
  readonly namespace?: string;
  /**
   * `false`: match whole words only, the last word of the query too. Given to a provider with
   * `supports.wholeWords`, and to one without `supports.prefix` (which matches whole words anyway); a
   * query asking for whole words of a provider with neither is refused before it is called. Absent: a
   * provider with `supports.prefix` matches the last word by its beginning too.
   */
  readonly prefix?: false;
  /**
   * (Only to a provider with `supports.vectors`, of its `dimensions`.) Ranks memories with an embedding
   * by cosine similarity to this one, most similar first; memories without one are not hits. With
   * `textWeight` too, `text` counts as well (hybrid search).
   */
  readonly embedding?: Float32Array;
  /**
   * (With `embedding` and a non-empty `text`.) How much the text's relevance counts against the vector
   * similarity, from 0 (the vector alone) to 1 (the text alone); a memory may be a hit by either.
   */
  readonly textWeight?: number;
}

/** One search hit: the id of a matching memory and how well it matched. */
export interface SearchHit {
  readonly id: number;
  /** Higher is better. Comparable only within one result list, unless `supports.comparableScores`. */
  readonly score: number;
}

/** What a provider can do beyond the required members; the testkit skips suites by it. */
export interface SearchProviderSupports {
  /** `exportSnapshot` / `importSnapshot` are implemented. */
  readonly snapshot: boolean;
  /** A query matches words by their beginning (`'mem'` finds `'memory'`). */
  readonly prefix: boolean;
  /** A request with `prefix: false` matches whole words only (a provider that indexes word beginnings cannot). */
  readonly wholeWords?: boolean;
  /**
   * The index keeps itself in files of a folder the store gives it: `openIndex`, `saveIndex` and
   * `removeUnusedFiles` are implemented, and the store saves the index's description (not the index)
   * with the log position it covers.
   */
  readonly persistent?: boolean;
  /**
   * A hit's score depends only on the memory and the query's text or embedding, not on the request's
   * `namespace` or `tags` or its `limit` (BM25 over the whole index's statistics, cosine similarity),
   * except in a hybrid search (`textWeight`), whose text part is relative to a list's best hit. The store
   * then searches a namespace and each one beneath it apart, up to a few, and merges their hits by
   * score; without it, it searches them all at once and keeps the hits within them (more of them asked
   * for as needed), as it does for a hybrid search.
   */
  readonly comparableScores?: boolean;
  /**
   * Embeddings are indexed and searched (`SearchDocument.embedding`, `SearchRequest.embedding`); the
   * store accepts embeddings of exactly `dimensions` numbers. Absent: no vector search.
   */
  readonly vectors?: { readonly dimensions: number };
}

/** A value JSON can hold exactly: what a provider's recorded options are made of. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * How a search provider is made again by name: what `MemMapFS.init`'s `search` option would say to
 * get the same provider, `{ provider, options }`. The store records it with the saved index.
 */
export interface SearchProviderSpec {
  /** The name it is made by: a built-in one (`'orama'`) or one registered with `registerSearchProvider`. Normally the provider's `name`. */
  readonly provider: string;
  /** The options it was made with, JSON only; absent: its defaults. */
  readonly options?: JsonValue;
}

/** How the store opens a persistent provider's index (`SearchProvider.openIndex`). */
export interface SearchIndexOpenOptions {
  /** How the store reads its own files (`InitOptions.reader`): a provider that maps its files reads them the same way. */
  readonly reader?: 'auto' | 'mmap' | 'read';
  /** The store was opened read-only: the provider writes nothing in its folder. */
  readonly readOnly?: boolean;
  /**
   * Runs `create`, which creates the new file `file` in the folder (a name, not a path), then `write`,
   * which writes it whole and durably, and resolves true. Resolves false when the index of this
   * `openIndex` may hold what a purge erased (another process, or this one, purged the saved index
   * since: `compact({ erase: true })`; or the store opened the index again since): before `create`,
   * which then does not run, or after `write`, when the purge was counted meanwhile: the provider then
   * removes the file. Refused, the provider writes no file of this index again: it keeps what it would
   * have written in memory, and its `saveIndex` rejects, until the store opens the index again (which
   * it does when it lets go of an index purged elsewhere). No purge is counted while `create` runs, so
   * a purge finds the file there, or never. Absent: every file is written. With `file.sincePurge`, the
   * provider says the file holds nothing of a document removed before the `saveIndex({ purge: true })`
   * running now began (only documents added since, or what that purge's own merge kept): an erase does
   * not wait for it to go.
   */
  readonly guardWrite?: (file: string, create: () => Promise<void>, write: () => Promise<void>, holds?: GuardedFileHolds) => Promise<boolean>;
}

/** What a new file of a persistent index holds, as its provider tells `SearchIndexOpenOptions.guardWrite`. */
export interface GuardedFileHolds {
  /**
   * Nothing of a document removed before the `saveIndex({ purge: true })` running now began: only
   * documents added since it began, or what its own merge kept.
   */
  readonly sincePurge?: boolean;
}

/**
 * A full-text index over memories. The store owns the truth (the WAL); a provider holds derived
 * data the store rebuilds at will: it calls `add` for every live memory and `remove` for every
 * deleted one, in log order, and may call `clear` and start over at any time.
 *
 * Contract, checked by `searchProviderSuite` in `@memmapfs/testkit`:
 * - `add` with an id already present replaces that document (text, tags and namespace).
 * - `remove` of an unknown id is a no-op.
 * - `search` honours `tags` (AND) and `namespace` exactly, returns at most `limit` hits sorted by
 *   descending score, never returns a removed id, and never throws on any query text.
 * - A persistent index (`openIndex`) that finds, while it searches, adds or removes, that the files it
 *   opened are damaged throws an error whose `code` is `'SEARCH_INDEX_DAMAGED'` (a `MemMapError`), and
 *   keeps throwing it until `clear` or `openIndex`: the store then drops the saved description, has every
 *   process let go of those files, rebuilds the index from the memories and asks again.
 */
export interface SearchProvider {
  /** Provider name, e.g. `'flexsearch'`; recorded with index snapshots. */
  readonly name: string;
  /** Optional capabilities. */
  readonly supports: SearchProviderSupports;
  /**
   * (Optional.) How to make this provider again by name, with its options. The store records it with the
   * saved index, so that a store opened later without a `search` option (by another process, or the
   * `memmapfs` command) uses the same provider, with the same options, and loads that index instead of
   * rebuilding it with the default. Only an instance passed as `search` needs it: for one chosen by name
   * (`'orama'`, `{ provider, options }`) the store knows the name and options it was made from. The
   * built-in adapters' factories set it. Without it, the saved index names only the provider's `name`.
   */
  readonly spec?: SearchProviderSpec;
  /** Indexes a document, replacing any document with the same id. */
  add(doc: SearchDocument): void | Promise<void>;
  /** Removes a document by id; unknown ids are ignored. */
  remove(id: number): void | Promise<void>;
  /**
   * Finds documents matching `request`: at most `limit`, best first; equal scores the newer memory (the
   * higher id) first, as the store orders the hits of several searches it merges (a namespace and
   * those under it), so that the pages of one query agree.
   */
  search(request: SearchRequest): SearchHit[] | Promise<SearchHit[]>;
  /** Drops every document. */
  clear(): void | Promise<void>;
  /** Serializes the whole index (when `supports.snapshot`). */
  exportSnapshot?(): Promise<Uint8Array>;
  /** Replaces the index with one produced by `exportSnapshot` of the same provider and version. */
  importSnapshot?(snapshot: Uint8Array): Promise<void>;
  /**
   * (When `supports.persistent`.) Opens the index kept in `folder`: `saved` is what `saveIndex`
   * returned when the index was saved last (the store keeps it with the log position it covers, and
   * then replays the changes after that); `undefined` starts an empty index there. Other processes
   * may have the same folder open. Throws when the files `saved` names are missing or damaged: the
   * store then calls `clear` and rebuilds the index from the memories. A file missing throws an error
   * whose `code` is `'ENOENT'`: when the description, read again, still names it, the store drops that
   * description as damaged, so that the rebuilt index's save replaces it. `options.reader` says how the
   * store reads its own files (`InitOptions.reader`): a provider that maps its files reads them the same way.
   * With `options.readOnly` the store was opened read-only (`InitOptions.readOnly`), perhaps on a
   * read-only file system: the provider writes nothing in `folder`, which may not exist (then as an
   * empty index), and keeps what it would write there in memory; `saveIndex` and `removeUnusedFiles`
   * are not called. Every new file of the folder is written through `options.guardWrite` when it is
   * given (see `SearchIndexOpenOptions`).
   */
  openIndex?(folder: string, saved: Uint8Array | undefined, options?: SearchIndexOpenOptions): Promise<void>;
  /**
   * (When `supports.persistent`.) Makes every document added so far durable in files of the folder and
   * returns a small description of the index, for `openIndex`. With `purge`, no file of the index keeps
   * anything of a removed document once the description is in use and the files it replaced removed.
   * With `compact` (a compaction of the store asked for it), the provider gives back the space removed
   * and replaced documents take, as far as it finds it worth rewriting files for; a provider may ignore it.
   */
  saveIndex?(options?: { purge?: boolean; compact?: boolean }): Promise<Uint8Array>;
  /**
   * (When `supports.persistent`.) Removes files of the folder that no process uses: neither this one,
   * nor another that has the folder open, nor the description `current()` reads (the one the store
   * keeps now, which another process may have saved; `undefined` when there is none). `current()`
   * rejects when the description cannot be read: the provider then removes nothing (it may not know
   * what is named). With `closing`, the store is done with the provider: it lets go of its own files
   * first (and is closed), so that those only it used go too. The removals are durable when it
   * resolves (the folder fsynced): a file a power loss brought back may hold what a purge erased.
   */
  removeUnusedFiles?(current: () => Promise<Uint8Array | undefined>, options?: { closing?: boolean }): Promise<void>;
  /**
   * (When `supports.persistent`; optional.) Checks the index `saved` describes, kept in `folder`,
   * without opening it or changing anything: every file it names is there and passes its checksums.
   * Returns what is wrong, a sentence each; none when it is sound. `memmapfs verify` calls it.
   */
  verifyIndex?(folder: string, saved: Uint8Array): Promise<string[]>;
  /**
   * (When `supports.persistent`; optional.) The names of the files of the folder that the description
   * `saved` names, without reading them. After a purge the store waits for every other file of the
   * folder, there before or made meanwhile by an index that predates the purge, to be let go of and
   * removed; it tells the purge's own files by those its index made through `guardWrite`, and by these.
   */
  indexFiles?(saved: Uint8Array): string[];
  /**
   * Releases resources. The provider is not used afterwards, except that a persistent one's
   * `removeUnusedFiles({ closing: true })` may follow, and `close` may be called again.
   */
  close?(): void | Promise<void>;
}
