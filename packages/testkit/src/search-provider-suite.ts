import type { SearchDocument, SearchHit, SearchIndexOpenOptions, SearchProvider, SearchRequest } from '@memmapfs/core';
import fc from 'fast-check';
import { access, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { expectDescending, expectNearest, hasVector, nearestByCosine, passesFilters, randomVector, seededRandom } from './vector-model.js';

/** Groups of checks in `searchProviderSuite`, each of which can be skipped as a whole. */
export type SearchProviderSuiteSection = 'contract' | 'ranking' | 'hostile' | 'unicode' | 'scale' | 'model' | 'prefix' | 'wholeWords' | 'snapshot' | 'persistent' | 'vectors';

/** Options of `searchProviderSuite`. */
export interface SearchProviderSuiteOptions {
  /**
   * Sections (`'snapshot'`, `'prefix'`, …) or exact check titles to leave out, for what a provider
   * knowingly does not do. Prefix, snapshot, persistent and vector checks already skip themselves
   * when `supports` says so. A name the suite does not have is an error, so a renamed check is not skipped silently.
   */
  skip?: Array<SearchProviderSuiteSection | (string & {})>;
}

/** Query texts a provider must survive: syntax of other engines, huge, control and unpaired characters. */
const hostileQueries = [
  '!!!',
  '...',
  '.*+?^${}()|[]\\',
  '\\',
  '"unterminated',
  "'; DROP TABLE memories; --",
  '* OR 1=1',
  'AND OR NOT',
  'title:alpha',
  '~alpha^2',
  '%s %d %n',
  '${constructor}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'NaN',
  'undefined',
  '-1',
  '0',
  '\u0000',
  'alpha\u0000beta',
  '\uD800',
  '\uDFFFalpha',
  '\uFFFE\uFFFF',
  '\u200B\u200D\u2060',
  '\u202Ealpha',
  'שלום עולם',
  'مرحبا بالعالم',
  '東京タワー',
  '😀',
  '👩‍👩‍👧‍👦 🇺🇳',
  'e\u0301',
  'a'.repeat(100_000),
  'alpha '.repeat(20_000).trim(),
  '😀'.repeat(25_000),
];

/** Words no one of which begins, ends or contains another, so prefix and substring matching agree. */
const vocabulary = ['apple', 'banana', 'cherry', 'damson', 'elder'] as const;
const modelTags = ['red', 'green', 'blue'] as const;
const modelNamespaces = ['one', 'two'] as const;

/**
 * Registers a vitest `describe` block that checks a search provider against the `SearchProvider`
 * contract of `@memmapfs/core`: upserts, removes, exact AND tag and namespace filters, limits and
 * ordering, ranking of multi-word queries, hostile and unicode text, filtered queries over 2,000
 * memories, a model-based property over random operations, and (when `supports` says so) prefix
 * matching, snapshot round trips, indexes kept in a folder (saved, reopened, purged, and their
 * files shared by several providers), and vector search against a brute-force cosine model. Every check runs on a fresh provider from `createProvider`.
 *
 * @param name Title of the `describe` block.
 * @param createProvider Returns a fresh, empty provider; called for every check (twice for snapshots).
 * @param options `skip`: sections or check titles to leave out.
 *
 * @example
 * import { searchProviderSuite } from '@memmapfs/testkit';
 * import { flexsearch } from '@memmapfs/search-flexsearch';
 * searchProviderSuite('flexsearch', () => flexsearch());
 */
export function searchProviderSuite(
  name: string,
  createProvider: () => SearchProvider | Promise<SearchProvider>,
  options: SearchProviderSuiteOptions = {},
): void {
  const skipped = new Set<string>(options.skip ?? []);
  const known = new Set<string>();

  describe(name, () => {
    /** A check of `section`; `alsoNeeds`: further capabilities it skips itself without (and is skipped with). */
    const check = (
      section: SearchProviderSuiteSection,
      title: string,
      body: (provider: SearchProvider, context: TestContext) => Promise<void>,
      alsoNeeds: ReadonlyArray<'snapshot' | 'persistent'> = [],
    ): void => {
      known.add(section).add(title);
      const needs = new Set<string>([section, ...alsoNeeds]);
      it.skipIf([...needs, title].some((name) => skipped.has(name)))(title, async (context) => {
        const provider = await createProvider();
        try {
          if (needs.has('prefix') && !provider.supports.prefix) context.skip('supports.prefix is false');
          if (needs.has('wholeWords') && provider.supports.wholeWords !== true) context.skip('supports.wholeWords is not true');
          if (needs.has('snapshot') && !provider.supports.snapshot) context.skip('supports.snapshot is false');
          if (needs.has('persistent') && !provider.supports.persistent) context.skip('supports.persistent is not true');
          if (needs.has('vectors') && !provider.supports.vectors) context.skip('supports.vectors is absent');
          await body(provider, context);
        } finally {
          await provider.close?.();
        }
      });
    };

    check('contract', 'has a name and declares its capabilities', async (provider) => {
      expect(typeof provider.name).toBe('string');
      expect(provider.name.length).toBeGreaterThan(0);
      expect(typeof provider.supports.snapshot).toBe('boolean');
      expect(typeof provider.supports.prefix).toBe('boolean');
      if (provider.supports.snapshot) {
        expect(typeof provider.exportSnapshot).toBe('function');
        expect(typeof provider.importSnapshot).toBe('function');
      }
      expect(['undefined', 'boolean']).toContain(typeof provider.supports.persistent);
      if (provider.supports.persistent) {
        expect(typeof provider.openIndex).toBe('function');
        expect(typeof provider.saveIndex).toBe('function');
        expect(typeof provider.removeUnusedFiles).toBe('function');
      }
      if (provider.supports.vectors !== undefined) {
        const { dimensions } = provider.supports.vectors;
        expect(Number.isInteger(dimensions) && dimensions > 0, `supports.vectors.dimensions ${String(dimensions)} is a positive integer`).toBe(true);
      }
    });

    check('contract', 'its spec, when it has one, names a provider and holds JSON options only (the store saves it with the index)', async (provider, context) => {
      const spec = provider.spec;
      if (spec === undefined) return context.skip('the provider has no spec (a store then saves no options with its index)');
      expect(typeof spec.provider === 'string' && spec.provider.length > 0, `spec.provider ${JSON.stringify(spec.provider)} is a non-empty name`).toBe(true);
      if (spec.options !== undefined) {
        // (What JSON would drop or change — undefined, functions, class instances, NaN — must not be there.)
        expect(JSON.parse(JSON.stringify(spec.options)), 'spec.options survive JSON unchanged').toStrictEqual(spec.options);
      }
    });

    check('contract', 'finds a memory by a word of its text', async (provider) => {
      await addAll(provider, [memory(1, 'The deploy script lives in the tools folder'), memory(2, 'Lunch with the design team on Friday')]);
      expect(await idsOf(provider, { text: 'deploy', limit: 10 })).toEqual([1]);
      expect(await idsOf(provider, { text: 'lunch', limit: 10 })).toEqual([2]);
    });

    check('contract', 'matches words case-insensitively', async (provider) => {
      await addAll(provider, [memory(1, 'Deploy the Kubernetes cluster'), memory(2, 'water the plants')]);
      for (const text of ['kubernetes', 'KUBERNETES', 'KuBeRnEtEs']) expect(await idsOf(provider, { text, limit: 10 })).toEqual([1]);
    });

    check('contract', 'puts the newer memory (the higher id) first among equal scores, and a smaller limit keeps the first hits', async (provider) => {
      // (Added out of id order, as an update or a rebuild may add them: the order is the ids', not the adds'.)
      await addAll(provider, [3, 1, 5, 2, 4].map((id) => memory(id, 'the same plain words')));
      const hits = await searchChecked(provider, { text: 'plain', limit: 10 });
      expect(sorted(hits.map((hit) => hit.id))).toEqual([1, 2, 3, 4, 5]);
      for (let i = 1; i < hits.length; i++) {
        if (hits[i]!.score === hits[i - 1]!.score) expect(hits[i]!.id, `hits ${i - 1} and ${i} have one score`).toBeLessThan(hits[i - 1]!.id);
      }
      expect(await idsOf(provider, { text: 'plain', limit: 2 })).toEqual(hits.slice(0, 2).map((hit) => hit.id));
    });

    check('contract', 'finds nothing for a word no memory holds', async (provider) => {
      await addAll(provider, [memory(1, 'alpha beta'), memory(2, 'gamma delta')]);
      expect(await searchChecked(provider, { text: 'zeppelin', limit: 10 })).toEqual([]);
    });

    check('contract', 'add with a known id replaces the text', async (provider) => {
      await provider.add(memory(1, 'the zebra grazes'));
      await provider.add(memory(1, 'the giraffe stretches'));
      expect(await idsOf(provider, { text: 'zebra', limit: 10 })).toEqual([]);
      expect(await idsOf(provider, { text: 'giraffe', limit: 10 })).toEqual([1]);
      expect(await idsOf(provider, { text: 'the', limit: 10 })).toEqual([1]);
    });

    check('contract', 'add with a known id replaces tags and namespace', async (provider) => {
      await provider.add(memory(1, 'quarterly report', ['old', 'shared'], 'first'));
      await provider.add(memory(1, 'quarterly report', ['new', 'shared'], 'second'));
      expect(await idsOf(provider, { text: 'quarterly', limit: 10, tags: ['old'] })).toEqual([]);
      expect(await idsOf(provider, { text: 'quarterly', limit: 10, tags: ['new'] })).toEqual([1]);
      expect(await idsOf(provider, { text: 'quarterly', limit: 10, tags: ['shared'] })).toEqual([1]);
      expect(await idsOf(provider, { text: 'quarterly', limit: 10, namespace: 'first' })).toEqual([]);
      expect(await idsOf(provider, { text: 'quarterly', limit: 10, namespace: 'second' })).toEqual([1]);
    });

    check('contract', 'remove hides a memory', async (provider) => {
      await addAll(provider, [memory(1, 'alpha one', ['t']), memory(2, 'alpha two', ['t'])]);
      await provider.remove(1);
      expect(await idsOf(provider, { text: 'alpha', limit: 10 })).toEqual([2]);
      expect(await idsOf(provider, { text: 'one', limit: 10 })).toEqual([]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['t'] })).toEqual([2]);
      await provider.remove(1);
      await provider.remove(2);
      expect(await idsOf(provider, { text: 'alpha', limit: 10 })).toEqual([]);
    });

    check('contract', 'remove of an unknown id is a no-op', async (provider) => {
      await provider.remove(404);
      await provider.add(memory(1, 'alpha'));
      await provider.remove(404);
      await provider.remove(0);
      expect(await idsOf(provider, { text: 'alpha', limit: 10 })).toEqual([1]);
    });

    check('contract', 'a tags filter requires every tag (AND)', async (provider) => {
      await addAll(provider, [memory(1, 'alpha', ['a', 'b']), memory(2, 'alpha', ['a', 'c']), memory(3, 'alpha', ['b']), memory(4, 'alpha')]);
      expect(sorted(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['a', 'b'] }))).toEqual([1]);
      expect(sorted(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['a'] }))).toEqual([1, 2]);
      expect(sorted(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['b'] }))).toEqual([1, 3]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['a', 'c', 'b'] })).toEqual([]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['a', 'missing'] })).toEqual([]);
    });

    check('contract', 'an empty tags list does not filter', async (provider) => {
      await addAll(provider, [memory(1, 'alpha', ['a']), memory(2, 'alpha')]);
      expect(sorted(await idsOf(provider, { text: 'alpha', limit: 10, tags: [] }))).toEqual([1, 2]);
    });

    check('contract', 'tags are exact, case-sensitive labels', async (provider) => {
      await addAll(provider, [
        memory(1, 'alpha', ['project:alpha']),
        memory(2, 'alpha', ['project']),
        memory(3, 'alpha', ['Red']),
        memory(4, 'alpha', ['red']),
        memory(5, 'alpha', ['two words']),
      ]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['project:alpha'] })).toEqual([1]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['project'] })).toEqual([2]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['alpha'] })).toEqual([]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['Red'] })).toEqual([3]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['red'] })).toEqual([4]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['two words'] })).toEqual([5]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['two'] })).toEqual([]);
    });

    check('contract', 'a namespace filter is exact', async (provider) => {
      await addAll(provider, [memory(1, 'alpha', [], 'work'), memory(2, 'alpha', [], 'work2'), memory(3, 'alpha', [], 'Work'), memory(4, 'alpha'), memory(5, 'alpha', [], 'work/sub')]);
      // (Not those beneath it either: the store searches each namespace beneath one apart, and merges.)
      expect(await idsOf(provider, { text: 'alpha', limit: 10, namespace: 'work' })).toEqual([1]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, namespace: 'work/sub' })).toEqual([5]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, namespace: 'Work' })).toEqual([3]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, namespace: 'default' })).toEqual([4]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, namespace: 'wor' })).toEqual([]);
      expect(sorted(await idsOf(provider, { text: 'alpha', limit: 10 }))).toEqual([1, 2, 3, 4, 5]);
    });

    check('contract', 'with supports.comparableScores, a hit scores the same whatever the filters and the limit', async (provider, context) => {
      if (provider.supports.comparableScores !== true) return context.skip('supports.comparableScores is not true');
      await addAll(provider, [
        memory(1, 'alpha beta', ['a'], 'x'),
        memory(2, 'alpha alpha gamma', ['b'], 'y'),
        memory(3, 'alpha beta gamma delta epsilon', ['a'], 'y'),
        memory(4, 'beta', [], 'x'),
        memory(5, 'gamma delta', ['a'], 'x/deeper'),
      ]);
      const all = await searchChecked(provider, { text: 'alpha beta', limit: 10 });
      const scoreOf = new Map(all.map((hit) => [hit.id, hit.score]));
      for (const narrowing of [{ namespace: 'x' }, { namespace: 'y' }, { tags: ['a'] }, { tags: ['a'], namespace: 'y' }, { limit: 1 }]) {
        for (const hit of await searchChecked(provider, { text: 'alpha beta', limit: 10, ...narrowing })) {
          expect(hit.score, `memory ${hit.id}'s score, searched with ${JSON.stringify(narrowing)} and without`).toBe(scoreOf.get(hit.id));
        }
      }
    });

    check('contract', 'tags and namespace filters combine', async (provider) => {
      await addAll(provider, [memory(1, 'alpha', ['a'], 'x'), memory(2, 'alpha', ['a'], 'y'), memory(3, 'alpha', [], 'x')]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['a'], namespace: 'x' })).toEqual([1]);
    });

    check('contract', 'returns at most limit hits, by descending score, each id once', async (provider) => {
      await addAll(provider, Array.from({ length: 30 }, (_, i) => memory(i + 1, `alpha entry ${i} ${i % 3 === 0 ? 'alpha beta' : 'gamma'}`)));
      for (const limit of [1, 2, 7, 30, 100]) {
        const hits = await searchChecked(provider, { text: 'alpha', limit });
        expect(hits.length).toBe(Math.min(limit, 30));
      }
      await searchChecked(provider, { text: 'alpha beta gamma', limit: 5 });
    });

    check('contract', 'the hits of a limit are the best that many of all the hits, not the first found', async (provider) => {
      // (Every third memory holds the word twice, and so scores higher; the best are not the lowest ids.)
      await addAll(provider, Array.from({ length: 30 }, (_, i) => memory(i + 1, `alpha entry ${i} ${i % 3 === 2 ? 'alpha beta' : 'gamma'}`)));
      for (const text of ['alpha', 'beta alpha']) {
        const all = await searchChecked(provider, { text, limit: 100 });
        for (const limit of [1, 2, 7, 12]) {
          const best = (await searchChecked(provider, { text, limit })).map((hit) => hit.score);
          const expected = all.slice(0, limit).map((hit) => hit.score);
          expect(best.length, `${JSON.stringify(text)}, limit ${limit}`).toBe(expected.length);
          for (const [i, score] of best.entries()) expect(score, `${JSON.stringify(text)}, limit ${limit}: score of hit ${i + 1} against the full list's`).toBeCloseTo(expected[i]!, 6);
        }
      }
    });

    check('ranking', 'ranks a memory holding every query word above those holding one', async (provider) => {
      // (The one holding both is neither the oldest nor the newest: order by id finds it neither way.)
      await addAll(provider, [
        memory(1, 'alpha notes about the weekly sync'),
        memory(2, 'alpha beta notes about the weekly sync'),
        memory(3, 'notes about the weekly sync beta'),
        memory(4, 'unrelated words entirely here'),
      ]);
      for (const text of ['alpha beta', 'beta alpha']) {
        const ids = await idsOf(provider, { text, limit: 10 });
        expect(ids[0]).toBe(2);
        expect(ids).not.toContain(4);
      }
    });

    check('hostile', 'never throws on hostile query text', async (provider) => {
      await addAll(provider, [memory(1, 'alpha beta', ['a']), memory(2, 'constructor prototype __proto__ toString'), memory(3, '東京タワー 😀 שלום')]);
      for (const text of hostileQueries) {
        await searchChecked(provider, { text, limit: 10 });
        await searchChecked(provider, { text, limit: 1, tags: ['a', text], namespace: text });
      }
    });

    check('hostile', 'never throws on arbitrary query text (property)', async (provider) => {
      await addAll(provider, [memory(1, 'alpha beta gamma'), memory(2, 'Ünïcödé text 東京 😀'), memory(3, 'punctuation: a.b-c_d/e\\f')]);
      const queryText = fc
        .oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: fc.constantFrom('\u0000', '\uD800', '\uDC00', '*', '?', '(', '[', '\\', '"', ':', '~', '^', '-', ' ', 'a', 'é', '😀') }),
        )
        .map((text) => text.trim())
        .filter((text) => text.length > 0);
      await fc.assert(
        fc.asyncProperty(queryText, fc.integer({ min: 1, max: 20 }), async (text, limit) => {
          await searchChecked(provider, { text, limit });
        }),
        { numRuns: 300 },
      );
    });

    check('hostile', 'indexes hostile document text without throwing', async (provider) => {
      for (const [i, text] of hostileQueries.entries()) await provider.add(memory(i + 1, text, [text], text));
      await provider.add(memory(1_000, 'alpha'));
      expect(await idsOf(provider, { text: 'alpha', limit: 100, namespace: 'default' })).toEqual([1_000]);
      for (const text of hostileQueries) await searchChecked(provider, { text, limit: 5 });
      for (let i = 1; i <= hostileQueries.length; i++) await provider.remove(i);
      expect(await idsOf(provider, { text: 'alpha', limit: 100 })).toEqual([1_000]);
      for (const text of hostileQueries) expect(await idsOf(provider, { text, limit: 5, namespace: text })).toEqual([]);
    });

    check('unicode', 'indexes unicode text and finds it by an accented word', async (provider) => {
      await addAll(provider, [
        memory(1, 'Le café du coin sert un résumé des nouvelles'),
        memory(2, '東京タワーの夜景はきれいです'),
        memory(3, 'Party time 🎉 with friends 👩‍👩‍👧‍👦'),
        memory(4, 'Ελληνικά και Русский текст'),
        memory(5, 'plain cafe without accents'),
        memory(6, 'Grüße aus Köln, eine naïve Frage'),
      ]);
      expect(await idsOf(provider, { text: 'café', limit: 10 })).toContain(1);
      expect(await idsOf(provider, { text: 'résumé', limit: 10 })).toContain(1);
      for (const text of ['Grüße', 'köln', 'naïve']) expect(await idsOf(provider, { text, limit: 10 }), text).toEqual([6]);
      expect(await idsOf(provider, { text: 'friends', limit: 10 })).toEqual([3]);
      for (const text of ['東京', '🎉', 'Русский', 'Ελληνικά']) await searchChecked(provider, { text, limit: 10 });
    });

    check('scale', 'filtered queries over 2,000 memories still fill the limit', async (provider) => {
      const memories = Array.from({ length: 2_000 }, (_, i) => {
        const id = i + 1;
        const signal = id % 20 === 1;
        return memory(id, `alpha memory number ${id}`, signal ? ['signal', 'shared'] : ['noise', 'shared'], id <= 1_000 ? 'early' : 'late');
      });
      await addAll(provider, memories);
      const isSignal = (id: number): boolean => id % 20 === 1;

      const signals = await idsOf(provider, { text: 'alpha', limit: 50, tags: ['signal'] });
      expect(signals).toHaveLength(50);
      expect(signals.every(isSignal)).toBe(true);

      const lateSignals = await idsOf(provider, { text: 'alpha', limit: 80, tags: ['signal', 'shared'], namespace: 'late' });
      expect(sorted(lateSignals)).toEqual(memories.filter((m) => isSignal(m.id) && m.namespace === 'late').map((m) => m.id));

      const late = await idsOf(provider, { text: 'alpha', limit: 300, namespace: 'late' });
      expect(late).toHaveLength(300);
      expect(late.every((id) => id > 1_000)).toBe(true);

      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['signal', 'noise'] })).toEqual([]);
      expect(await idsOf(provider, { text: 'alpha', limit: 2_000 })).toHaveLength(2_000);
    });

    check('model', 'search agrees with a model after random adds, replaces and removes (property)', async (provider) => {
      const operation = fc.oneof(
        {
          arbitrary: fc.record({
            kind: fc.constant('add' as const),
            id: fc.integer({ min: 1, max: 8 }),
            words: fc.subarray([...vocabulary], { minLength: 1 }),
            tags: fc.subarray([...modelTags]),
            namespace: fc.constantFrom(...modelNamespaces),
          }),
          weight: 24,
        },
        { arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 1, max: 8 }) }), weight: 8 },
        { arbitrary: fc.record({ kind: fc.constant('clear' as const) }), weight: 1 },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { maxLength: 25 }), async (operations) => {
          await provider.clear();
          const model = new Map<number, SearchDocument>();
          for (const op of operations) {
            if (op.kind === 'add') {
              const doc = memory(op.id, op.words.join(' '), op.tags, op.namespace);
              model.set(op.id, doc);
              await provider.add(doc);
            } else if (op.kind === 'remove') {
              model.delete(op.id);
              await provider.remove(op.id);
            } else {
              model.clear();
              await provider.clear();
            }
          }
          const filters: Array<Pick<SearchRequest, 'tags' | 'namespace'>> = [{}, { tags: ['red'] }, { tags: ['red', 'green'] }, { namespace: 'one' }, { tags: ['blue'], namespace: 'two' }];
          for (const word of vocabulary) {
            for (const filter of filters) {
              const request: SearchRequest = { text: word, limit: 20, ...filter };
              const passes = (doc: SearchDocument): boolean =>
                (request.namespace === undefined || doc.namespace === request.namespace) && (request.tags ?? []).every((tag) => doc.tags.includes(tag));
              const expected = [...model.values()].filter((doc) => passes(doc) && doc.text.split(' ').includes(word)).map((doc) => doc.id);
              const ids = await idsOf(provider, request);
              for (const id of ids) {
                const doc = model.get(id);
                expect(doc, `hit ${id} for ${JSON.stringify(request)} is not a live memory`).toBeDefined();
                expect(passes(doc!), `hit ${id} for ${JSON.stringify(request)} fails the filters`).toBe(true);
              }
              expect(sorted(ids.filter((id) => expected.includes(id))), `search ${JSON.stringify(request)}`).toEqual(sorted(expected));
            }
          }
        }),
        { numRuns: 40 },
      );
    });

    check('prefix', 'finds no memory removed or replaced by the beginning of a word it held', async (provider) => {
      await addAll(provider, [memory(1, 'memorandum about the budget'), memory(2, 'zebra crossing'), memory(3, 'memory of the trip')]);
      await provider.remove(1);
      await provider.add(memory(2, 'giraffe crossing'));
      expect(await idsOf(provider, { text: 'memo', limit: 10 })).toEqual([3]);
      expect(await idsOf(provider, { text: 'zeb', limit: 10 })).toEqual([]);
      expect(await idsOf(provider, { text: 'gira', limit: 10 })).toEqual([2]);
    });

    check('prefix', 'finds a memory by the beginning of a word', async (provider) => {
      await addAll(provider, [memory(1, 'Remember the memorandum'), memory(2, 'nothing to see')]);
      expect(await idsOf(provider, { text: 'memo', limit: 10 })).toEqual([1]);
      expect(await idsOf(provider, { text: 'rem', limit: 10 })).toEqual([1]);
      expect(await idsOf(provider, { text: 'MEMORAND', limit: 10 })).toEqual([1]);
    });

    check('prefix', 'the last word of the query is matched by its beginning even when it also comes earlier', async (provider) => {
      await addAll(provider, [memory(1, 'notes go to google docs'), memory(2, 'go to the meeting'), memory(3, 'a list of things to do')]);
      // (The memory holding both words ranks first: `to` alone is in all three.)
      expect((await idsOf(provider, { text: 'goo to goo', limit: 10 }))[0]).toBe(1);
    });

    check('wholeWords', 'with prefix: false, matches whole words only, the last word too', async (provider) => {
      await addAll(provider, [memory(1, 'Remember the memorandum'), memory(2, 'a memo for the team'), memory(3, 'the team memo')]);
      expect(new Set(await idsOf(provider, { text: 'memo', limit: 10, prefix: false }))).toEqual(new Set([2, 3]));
      expect(await idsOf(provider, { text: 'memorand', limit: 10, prefix: false })).toEqual([]);
      expect(new Set(await idsOf(provider, { text: 'team memo', limit: 10, prefix: false }))).toEqual(new Set([2, 3]));
      if (provider.supports.prefix) expect(new Set(await idsOf(provider, { text: 'memo', limit: 10 }))).toEqual(new Set([1, 2, 3]));
      // Case, accents and other scripts fold as they do without it; punctuation is no part of a word; the limit is filled.
      await addAll(provider, [memory(4, 'Кот и café'), memory(5, 'Memo: the cat'), memory(6, 'memoir of a cat')]);
      expect(new Set(await idsOf(provider, { text: 'MEMO', limit: 10, prefix: false }))).toEqual(new Set([2, 3, 5]));
      expect(await idsOf(provider, { text: 'кот', limit: 10, prefix: false })).toEqual([4]);
      expect(await idsOf(provider, { text: 'Cafe', limit: 10, prefix: false })).toEqual(await idsOf(provider, { text: 'Cafe', limit: 10 }));
      const either = await idsOf(provider, { text: 'cat, memo', limit: 10, prefix: false });
      expect(either).toContain(5);
      for (const id of either) expect([2, 3, 5, 6]).toContain(id);
      expect(await idsOf(provider, { text: 'memo', limit: 2, prefix: false })).toHaveLength(2);
    });

    check('snapshot', 'a snapshot imported into a fresh provider gives the same results', async (provider) => {
      await addAll(provider, snapshotMemories());
      await provider.remove(4);
      await provider.add(memory(5, 'ordered replacement text for five', ['b'], 'other'));
      const snapshot = await provider.exportSnapshot!();
      expect(snapshot).toBeInstanceOf(Uint8Array);
      const restored = await createProvider();
      try {
        await restored.importSnapshot!(snapshot);
        for (const request of snapshotRequests) {
          expect(await idsOf(restored, request), JSON.stringify(request)).toEqual(await idsOf(provider, request));
        }
        expect(await idsOf(restored, { text: 'kiwi', limit: 10, tags: ['c'] })).toEqual([6]);
      } finally {
        await restored.close?.();
      }
    });

    check('snapshot', 'importing a snapshot replaces what the provider held', async (provider) => {
      await addAll(provider, snapshotMemories());
      const snapshot = await provider.exportSnapshot!();
      const restored = await createProvider();
      try {
        await addAll(restored, [memory(100, 'stale alpha text', ['a']), memory(1, 'stale banana text')]);
        await restored.importSnapshot!(snapshot);
        expect(await idsOf(restored, { text: 'stale', limit: 10 })).toEqual([]);
        expect(await idsOf(restored, { text: 'alpha', limit: 10, tags: ['a'] })).not.toContain(100);
        for (const request of snapshotRequests) {
          expect(await idsOf(restored, request), JSON.stringify(request)).toEqual(await idsOf(provider, request));
        }
      } finally {
        await restored.close?.();
      }
    });

    check('snapshot', 'an imported index accepts adds, replaces and removes', async (provider) => {
      await addAll(provider, snapshotMemories());
      const restored = await createProvider();
      try {
        await restored.importSnapshot!(await provider.exportSnapshot!());
        await restored.remove(1);
        await restored.add(memory(2, 'walrus now', ['z'], 'elsewhere'));
        await restored.add(memory(10, 'alpha newcomer', ['a']));
        expect(await idsOf(restored, { text: 'walrus', limit: 10, tags: ['z'], namespace: 'elsewhere' })).toEqual([2]);
        const alphas = await idsOf(restored, { text: 'alpha', limit: 10 });
        expect(alphas).toContain(10);
        expect(alphas).not.toContain(1);
        expect(alphas).not.toContain(2);
        expect(await idsOf(restored, { text: 'alpha', limit: 10, tags: ['b'] })).not.toContain(2);
        const empty = await createProvider();
        try {
          await empty.importSnapshot!(await restored.exportSnapshot!());
          expect(sorted(await idsOf(empty, { text: 'alpha', limit: 10 }))).toEqual(sorted(alphas));
        } finally {
          await empty.close?.();
        }
      } finally {
        await restored.close?.();
      }
    });

    check('snapshot', 'an empty index round-trips', async (provider) => {
      const restored = await createProvider();
      try {
        await restored.add(memory(1, 'alpha'));
        await restored.importSnapshot!(await provider.exportSnapshot!());
        expect(await idsOf(restored, { text: 'alpha', limit: 10 })).toEqual([]);
      } finally {
        await restored.close?.();
      }
    });

    /** Runs `body` with a fresh folder, removed afterwards. */
    const inFolder = async (body: (folder: string) => Promise<void>): Promise<void> => {
      const folder = await mkdtemp(join(tmpdir(), 'memmapfs-testkit-index-'));
      try {
        await body(folder);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    };
    /** A second provider on `folder`, opened from `saved`, closed after `body`. */
    const reopened = async (folder: string, saved: Uint8Array | undefined, body: (provider: SearchProvider) => Promise<void>): Promise<void> => {
      const other = await createProvider();
      try {
        await other.openIndex!(folder, saved);
        await body(other);
      } finally {
        await other.close?.();
      }
    };

    check('persistent', 'an index saved in a folder opens in a fresh provider with the same results', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        await provider.remove(4);
        await provider.add(memory(5, 'ordered replacement text for five', ['b'], 'other'));
        const saved = await provider.saveIndex!();
        expect(saved).toBeInstanceOf(Uint8Array);
        await reopened(folder, saved, async (restored) => {
          // (Scores may shift a little: an index may count removed documents in its statistics until it writes them out.)
          for (const request of snapshotRequests) expect(sorted(await idsOf(restored, request)), JSON.stringify(request)).toEqual(sorted(await idsOf(provider, request)));
          expect(await idsOf(restored, { text: 'kiwi', limit: 10, tags: ['c'] })).toEqual([6]);
        });
      });
    });

    check('persistent', 'an opened index takes adds, replaces and removes, and saves them again', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        const first = await provider.saveIndex!();
        await reopened(folder, first, async (restored) => {
          await restored.remove(1);
          await restored.add(memory(2, 'walrus now', ['z'], 'elsewhere'));
          await restored.add(memory(10, 'alpha newcomer', ['a']));
          const second = await restored.saveIndex!();
          await reopened(folder, second, async (third) => {
            expect(await idsOf(third, { text: 'walrus', limit: 10, tags: ['z'], namespace: 'elsewhere' })).toEqual([2]);
            const alphas = await idsOf(third, { text: 'alpha', limit: 10 });
            expect(alphas).toContain(10);
            expect(alphas).not.toContain(1);
            expect(alphas).not.toContain(2);
            expect(sorted(alphas)).toEqual(sorted(await idsOf(restored, { text: 'alpha', limit: 10 })));
          });
          // The first description still opens as it was: nothing it names was changed.
          await reopened(folder, first, async (old) => {
            expect(await idsOf(old, { text: 'walrus', limit: 10 })).toEqual([]);
            expect(await idsOf(old, { text: 'alpha', limit: 10 })).toContain(1);
          });
        });
      });
    });

    check('persistent', 'opened read-only, it writes nothing in its folder: what it adds and removes is searched in memory, and a missing folder is an empty index', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        const saved = await provider.saveIndex!();
        await provider.close?.();
        /** Every file of the folder, with its bytes. */
        const files = async () => Object.fromEntries(await Promise.all((await readdir(folder, { recursive: true })).sort().map(async (name) => [name, await readFile(join(folder, name)).catch(() => 'a folder')] as const)));
        const before = await files();
        const readOnly = await createProvider();
        try {
          await readOnly.openIndex!(folder, saved, { readOnly: true });
          for (let id = 100; id < 160; id++) await readOnly.add(memory(id, `read only walrus ${id}`, ['ro']));
          await readOnly.remove(101);
          await readOnly.remove(1);
          // (Room for what an index does in the background.)
          await new Promise((resolve) => setTimeout(resolve, 100));
          const walruses = await idsOf(readOnly, { text: 'walrus', limit: 100, tags: ['ro'] });
          expect(sorted(walruses)).toEqual(Array.from({ length: 60 }, (_, i) => 100 + i).filter((id) => id !== 101));
          expect(await idsOf(readOnly, { text: 'kiwi', limit: 10, tags: ['c'] })).toEqual([6]);
          expect(await idsOf(readOnly, { text: 'alpha', limit: 10 })).not.toContain(1);
        } finally {
          await readOnly.close?.();
        }
        expect(await files()).toEqual(before);
        const missing = join(folder, 'not-made');
        const empty = await createProvider();
        try {
          await empty.openIndex!(missing, undefined, { readOnly: true });
          for (let id = 1; id <= 12; id++) await empty.add(memory(id, `lonely heron ${id}`));
          expect(sorted(await idsOf(empty, { text: 'heron', limit: 20 }))).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        } finally {
          await empty.close?.();
        }
        expect(await readdir(folder)).not.toContain('not-made');
      });
    });

    check('persistent', 'every new file goes through guardWrite, named before it is there, made by create and written by write; indexFiles names what a description needs', async (provider) => {
      await inFolder(async (folder) => {
        const exists = (file: string) => access(join(folder, file)).then(() => true, () => false);
        const guarded: string[] = [];
        await provider.openIndex!(folder, undefined, {
          guardWrite: async (file, create, write) => {
            expect(await exists(file), `${file} before create`).toBe(false);
            await create();
            expect(await exists(file), `${file} after create`).toBe(true);
            await write();
            guarded.push(file);
            return true;
          },
        });
        await addAll(provider, snapshotMemories());
        for (let id = 100; id < 160; id++) await provider.add(memory(id, `guarded walrus ${id}`, ['g']));
        await provider.remove(101);
        const saved = await provider.saveIndex!();
        const walruses = sorted(await idsOf(provider, { text: 'walrus', limit: 100, tags: ['g'] }));
        // (Closed: what it writes in the background is done.)
        await provider.close?.();
        const files = await readdir(folder);
        expect(guarded.length).toBeGreaterThan(0);
        for (const file of files) expect(guarded, `${file} was written without guardWrite`).toContain(file);
        if (!provider.indexFiles) return;
        const named = provider.indexFiles(saved);
        expect(named.length).toBeGreaterThan(0);
        for (const file of named) expect(files).toContain(file);
        // What it does not name is not needed: the description opens, and finds the same, without it.
        for (const file of files) if (!named.includes(file)) await unlink(join(folder, file));
        await reopened(folder, saved, async (restored) => {
          expect(sorted(await idsOf(restored, { text: 'walrus', limit: 100, tags: ['g'] }))).toEqual(walruses);
        });
      });
    });

    check('persistent', 'a file guardWrite is told holds nothing a purge erases (sincePurge) is written while that purge saves, and holds no word of a document removed before it', async (provider) => {
      await inFolder(async (folder) => {
        let purging = false;
        const sincePurge: string[] = [];
        const outsidePurge: string[] = [];
        await provider.openIndex!(folder, undefined, {
          guardWrite: async (file, create, write, holds) => {
            if (holds?.sincePurge) (purging ? sincePurge : outsidePurge).push(file);
            await create();
            await write();
            return true;
          },
        });
        // (Some removed before they reach a file: the purge writes them out before it drops them.)
        for (let id = 1; id <= 40; id++) await provider.add(memory(id, id % 4 === 0 ? `zyzzyvaerased ${id}` : `kept heron ${id}`));
        for (let id = 4; id <= 40; id += 4) await provider.remove(id);
        purging = true;
        const saving = provider.saveIndex!({ purge: true }).finally(() => (purging = false));
        // Documents added while the purge saves: files of them may be written as holding nothing it erases.
        for (let id = 41; purging && id <= 400; id++) {
          await provider.add(memory(id, `fresh otter ${id}`));
          await new Promise((resolve) => setImmediate(resolve));
        }
        await saving;
        expect(await idsOf(provider, { text: 'zyzzyvaerased', limit: 20 })).toEqual([]);
        // (Closed: what it writes in the background is done.)
        await provider.close?.();
        expect(outsidePurge, 'files said to hold nothing a purge erases while no purge saved').toEqual([]);
        for (const file of sincePurge) {
          const bytes = await readFile(join(folder, file)).catch(() => undefined);
          if (bytes) expect(bytes.includes('zyzzyvaerased'), `${file} (sincePurge) holds a word of a document removed before the purge`).toBe(false);
        }
      });
    });

    const refusals: ReadonlyArray<readonly [string, NonNullable<SearchIndexOpenOptions['guardWrite']>]> = [
      ['before it is made', async () => false],
      ['once it is written (a purge counted meanwhile)', async (_file, create, write) => (await create(), await write(), false)],
    ];
    for (const [when, refuse] of refusals) check('persistent', `once guardWrite refuses a new file ${when}, it keeps no file, searches what it takes in memory, and its save rejects until it is opened again`, async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        const saved = await provider.saveIndex!();
        await provider.close?.();
        const before = (await readdir(folder)).sort();
        const refusing = await createProvider();
        try {
          let asked = 0;
          await refusing.openIndex!(folder, saved, { guardWrite: (file, create, write) => (asked++, refuse(file, create, write)) });
          for (let id = 100; id < 160; id++) await refusing.add(memory(id, `guarded walrus ${id}`, ['g']));
          await refusing.remove(101);
          await refusing.remove(1);
          await expect(refusing.saveIndex!()).rejects.toThrow();
          expect(asked).toBeGreaterThan(0);
          // (Room for what an index does in the background.)
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(sorted(await idsOf(refusing, { text: 'walrus', limit: 100, tags: ['g'] }))).toEqual(Array.from({ length: 60 }, (_, i) => 100 + i).filter((id) => id !== 101));
          expect(await idsOf(refusing, { text: 'alpha', limit: 10 })).not.toContain(1);
          expect((await readdir(folder)).sort()).toEqual(before);
          await expect(refusing.saveIndex!()).rejects.toThrow();
          // Opened again, it writes and saves.
          await refusing.openIndex!(folder, saved);
          await refusing.add(memory(200, 'reopened walrus', ['g']));
          const again = await refusing.saveIndex!();
          await reopened(folder, again, async (restored) => {
            expect(await idsOf(restored, { text: 'walrus', limit: 10, tags: ['g'] })).toEqual([200]);
          });
        } finally {
          await refusing.close?.();
        }
      });
    });

    check('persistent', 'opening a description whose files are gone fails, and an empty open starts afresh', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, [memory(1, 'alpha'), memory(2, 'beta')]);
        const saved = await provider.saveIndex!();
        await provider.close?.();
        for (const name of await readdir(folder)) await rm(join(folder, name), { recursive: true, force: true });
        const fresh = await createProvider();
        try {
          await expect(fresh.openIndex!(folder, saved)).rejects.toThrow();
          await fresh.clear();
          await fresh.openIndex!(folder, undefined);
          expect(await idsOf(fresh, { text: 'alpha', limit: 10 })).toEqual([]);
          await fresh.add(memory(3, 'alpha'));
          expect(await idsOf(fresh, { text: 'alpha', limit: 10 })).toEqual([3]);
        } finally {
          await fresh.close?.();
        }
      });
    });

    check('persistent', 'verifyIndex (when there is one) finds a sound index sound, and says what is wrong once its files are damaged or gone', async (provider) => {
      if (!provider.verifyIndex) return;
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        const saved = await provider.saveIndex!();
        await provider.close?.();
        expect(await provider.verifyIndex!(folder, saved)).toEqual([]);
        const files = (await readdir(folder, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
        expect(files.length).toBeGreaterThan(0);
        for (const file of files) {
          const path = join(file.parentPath, file.name);
          const bytes = await readFile(path);
          bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
          await writeFile(path, bytes);
        }
        const damaged = await provider.verifyIndex!(folder, saved);
        expect(damaged.length).toBeGreaterThan(0);
        for (const problem of damaged) expect(typeof problem).toBe('string');
        for (const file of files) await rm(join(file.parentPath, file.name));
        expect((await provider.verifyIndex!(folder, saved)).length).toBeGreaterThan(0);
      });
    });

    check('persistent', 'a purge leaves no file holding what removed memories said, once unused files are removed', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, [memory(1, 'my password is hunter2zebra', ['secret']), memory(2, 'keep this zebra'), ...snapshotMemories().map((doc) => ({ ...doc, id: doc.id + 10 }))]);
        await provider.saveIndex!();
        await provider.add(memory(2, 'keep this zebra, changed from quokka7'));
        await provider.remove(1);
        await provider.saveIndex!();
        await provider.add(memory(2, 'keep this zebra, changed again'));
        const purged = await provider.saveIndex!({ purge: true });
        await provider.removeUnusedFiles!(async () => purged);
        for (const secret of ['hunter2zebra', 'quokka7']) {
          for (const name of await readdir(folder, { recursive: true })) {
            const bytes = await readFile(join(folder, name)).catch(() => Buffer.alloc(0));
            expect(bytes.includes(Buffer.from(secret)), `${name} holds ${secret}`).toBe(false);
          }
        }
        expect(await idsOf(provider, { text: 'zebra', limit: 10 })).toEqual([2]);
        await reopened(folder, purged, async (restored) => {
          expect(await idsOf(restored, { text: 'zebra', limit: 10 })).toEqual([2]);
          expect(await idsOf(restored, { text: 'secret', limit: 10, tags: ['secret'] })).toEqual([]);
        });
      });
    });

    check('persistent', 'a save with compact (after a compaction of the store) finds what it found before, there and reopened', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        const memories = snapshotMemories().map((doc) => ({ ...doc, id: doc.id + 10 }));
        await addAll(provider, [memory(1, 'an old zebra'), memory(2, 'keep this zebra'), ...memories]);
        await provider.saveIndex!();
        await provider.remove(1);
        await provider.add(memory(2, 'keep this zebra, changed'));
        for (const doc of memories.filter((_, i) => i % 3 === 0)) await provider.remove(doc.id);
        const queries = [{ text: 'zebra', limit: 10 }, { text: 'changed', limit: 10 }, { text: 'alpha', limit: 50 }, { text: 'banana', limit: 50 }, { text: 'text', limit: 50 }];
        const expected = await Promise.all(queries.map(async (q) => sorted(await idsOf(provider, q))));
        const compacted = await provider.saveIndex!({ compact: true });
        await provider.removeUnusedFiles!(async () => compacted);
        expect(await Promise.all(queries.map(async (q) => sorted(await idsOf(provider, q))))).toEqual(expected);
        await reopened(folder, compacted, async (restored) => {
          expect(await Promise.all(queries.map(async (q) => sorted(await idsOf(restored, q))))).toEqual(expected);
        });
        expect(expected[0]).toEqual([2]);
      });
    });

    check('persistent', 'removing unused files keeps those another provider on the folder reads or the current description names', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        const first = await provider.saveIndex!();
        const other = await createProvider();
        let second: Uint8Array;
        try {
          await other.openIndex!(folder, first);
          await other.add(memory(20, 'platypus arrives late', ['late']));
          second = await other.saveIndex!();
          // The current description is still the first: the other provider's files are in use all the same.
          await provider.removeUnusedFiles!(async () => first);
          await reopened(folder, second, async (third) => expect(await idsOf(third, { text: 'platypus', limit: 10 })).toEqual([20]));
        } finally {
          await other.close?.();
        }
        // Now the second is current, and no one has it open: its files are kept by being named.
        await provider.removeUnusedFiles!(async () => second);
        await reopened(folder, second, async (third) => expect(await idsOf(third, { text: 'platypus', limit: 10 })).toEqual([20]));
        await reopened(folder, first, async (third) => expect(sorted(await idsOf(third, { text: 'alpha', limit: 10 }))).toEqual(sorted(await idsOf(provider, { text: 'alpha', limit: 10 }))));
      });
    });

    check('persistent', 'removing unused files while closing lets go of its own first: files no description names go', async (provider) => {
      await inFolder(async (folder) => {
        await provider.openIndex!(folder, undefined);
        await addAll(provider, snapshotMemories());
        const first = await provider.saveIndex!();
        const expected = sorted(await idsOf(provider, { text: 'alpha', limit: 10 }));
        // Closed, so that no merge of its own adds files to the folder meanwhile.
        await provider.close?.();
        const before = (await readdir(folder)).sort();
        const other = await createProvider();
        await other.openIndex!(folder, first);
        await other.add(memory(30, 'numbat written by the other', ['late']));
        // Saved, but the store kept the first description (say another process's covered more).
        await other.saveIndex!();
        expect((await readdir(folder)).length).toBeGreaterThan(before.length);
        await other.removeUnusedFiles!(async () => first, { closing: true });
        expect((await readdir(folder)).sort()).toEqual(before);
        await reopened(folder, first, async (third) => expect(sorted(await idsOf(third, { text: 'alpha', limit: 10 }))).toEqual(expected));
      });
    });

    check('persistent', 'search agrees with a model across saves and reopens (property)', async (provider) => {
      const operation = fc.oneof(
        {
          arbitrary: fc.record({
            kind: fc.constant('add' as const),
            id: fc.integer({ min: 1, max: 12 }),
            words: fc.subarray([...vocabulary], { minLength: 1 }),
            tags: fc.subarray([...modelTags]),
            namespace: fc.constantFrom(...modelNamespaces),
          }),
          weight: 24,
        },
        { arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 1, max: 12 }) }), weight: 8 },
        { arbitrary: fc.record({ kind: fc.constant('reopen' as const), purge: fc.boolean() }), weight: 3 },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { maxLength: 40 }), async (operations) => {
          await inFolder(async (folder) => {
            let current = await createProvider();
            try {
              await current.openIndex!(folder, undefined);
              const model = new Map<number, SearchDocument>();
              for (const op of operations) {
                if (op.kind === 'add') {
                  const doc = memory(op.id, op.words.join(' '), op.tags, op.namespace);
                  model.set(op.id, doc);
                  await current.add(doc);
                } else if (op.kind === 'remove') {
                  model.delete(op.id);
                  await current.remove(op.id);
                } else {
                  const saved = await current.saveIndex!({ purge: op.purge });
                  await current.removeUnusedFiles!(async () => saved);
                  await current.close?.();
                  current = await createProvider();
                  await current.openIndex!(folder, saved);
                }
              }
              for (const word of vocabulary) {
                for (const filter of [{}, { tags: ['red'] }, { namespace: 'one' }] as Array<Pick<SearchRequest, 'tags' | 'namespace'>>) {
                  const request: SearchRequest = { text: word, limit: 20, ...filter };
                  const expected = [...model.values()]
                    .filter((doc) => (request.namespace === undefined || doc.namespace === request.namespace) && (request.tags ?? []).every((tag) => doc.tags.includes(tag)) && doc.text.split(' ').includes(word))
                    .map((doc) => doc.id);
                  expect(sorted(await idsOf(current, request)), `search ${JSON.stringify(request)}`).toEqual(sorted(expected));
                }
              }
            } finally {
              await current.close?.();
            }
          });
        }),
        { numRuns: 30 },
      );
    });

    /** The provider's embedding length (the vector checks run only when it has one). */
    const dimensionsOf = (provider: SearchProvider): number => provider.supports.vectors!.dimensions;

    check('vectors', 'finds the memories whose embeddings are most similar first (brute-force cosine over 300)', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 300, 1);
      await addAll(provider, docs);
      const random = seededRandom(2);
      const queries = [...Array.from({ length: 4 }, () => randomVector(random, dimensions)), docs.find((doc) => hasVector(doc, dimensions))!.embedding!];
      for (const [q, embedding] of queries.entries()) {
        const model = nearestByCosine(docs, { text: '', limit: 300, embedding });
        for (const limit of [1, 10, 300]) {
          expectNearest(await searchChecked(provider, { text: '', limit, embedding }), model, limit, `query ${q}, limit ${limit}`);
        }
      }
    });

    check('vectors', 'tags (AND) and namespace filters apply to vector search', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 300, 3);
      await addAll(provider, docs);
      const embedding = randomVector(seededRandom(4), dimensions);
      const filters: Array<Pick<SearchRequest, 'tags' | 'namespace'>> = [{ tags: ['red'] }, { tags: ['red', 'green'] }, { namespace: 'one' }, { tags: ['blue'], namespace: 'two' }, { tags: ['missing'] }, { namespace: 'nowhere' }];
      for (const filter of filters) {
        for (const limit of [5, 300]) {
          const request = { text: '', limit, embedding, ...filter };
          expectNearest(await searchChecked(provider, request), nearestByCosine(docs, request), limit, `${JSON.stringify(filter)}, limit ${limit}`);
        }
      }
    });

    check('vectors', 'a memory without an embedding, or with one of another length, is no vector hit but is found by its text', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const random = seededRandom(5);
      const embedding = randomVector(random, dimensions);
      await addAll(provider, [
        memory(1, 'walrus with a vector', [], 'default', embedding),
        memory(2, 'walrus without one'),
        memory(3, 'walrus with a longer one', [], 'default', randomVector(random, dimensions + 1)),
        ...(dimensions > 1 ? [memory(4, 'walrus with a shorter one', [], 'default', randomVector(random, dimensions - 1))] : []),
      ]);
      expect(await idsOf(provider, { text: '', limit: 10, embedding })).toEqual([1]);
      expect(sorted(await idsOf(provider, { text: 'walrus', limit: 10 }))).toEqual(dimensions > 1 ? [1, 2, 3, 4] : [1, 2, 3]);
    });

    check('vectors', 'add with a known id replaces the embedding', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const random = seededRandom(6);
      const [a, b, c] = [randomVector(random, dimensions), randomVector(random, dimensions), randomVector(random, dimensions)];
      const docs = new Map<number, SearchDocument>();
      const put = async (doc: SearchDocument): Promise<void> => {
        docs.set(doc.id, doc);
        await provider.add(doc);
      };
      const expectModel = async (label: string): Promise<void> => {
        for (const embedding of [a, b, c]) expectNearest(await searchChecked(provider, { text: '', limit: 10, embedding }), nearestByCosine(docs.values(), { text: '', limit: 10, embedding }), 10, label);
      };
      await put(memory(1, 'first', [], 'default', a));
      await put(memory(2, 'second', [], 'default', b));
      await expectModel('two embeddings');
      await put(memory(1, 'first', [], 'default', c));
      expect((await idsOf(provider, { text: '', limit: 1, embedding: c }))).toEqual([1]);
      await expectModel('the first replaced');
      await put(memory(1, 'first'));
      expect(await idsOf(provider, { text: '', limit: 10, embedding: c })).toEqual([2]);
      await put(memory(1, 'first', [], 'default', randomVector(random, dimensions + 1)));
      expect(await idsOf(provider, { text: '', limit: 10, embedding: c })).toEqual([2]);
      await put(memory(1, 'first, again', ['t'], 'other', a));
      await expectModel('the first given one again');
      expect(await idsOf(provider, { text: '', limit: 10, embedding: b, tags: ['t'], namespace: 'other' })).toEqual([1]);
      expect(await idsOf(provider, { text: 'first', limit: 10 })).toEqual([1]);
    });

    check('vectors', 'remove hides a memory from vector search', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 40, 7).filter((doc) => hasVector(doc, dimensions));
      await addAll(provider, docs);
      const embedding = randomVector(seededRandom(8), dimensions);
      const removed = new Set(docs.filter((_, i) => i % 3 === 0).map((doc) => doc.id));
      for (const id of removed) await provider.remove(id);
      await provider.remove(10_000);
      const live = docs.filter((doc) => !removed.has(doc.id));
      expectNearest(await searchChecked(provider, { text: '', limit: 40, embedding }), nearestByCosine(live, { text: '', limit: 40, embedding }), 40, 'after removes');
      const back = docs.find((doc) => removed.has(doc.id))!;
      await provider.add(back);
      expectNearest(await searchChecked(provider, { text: '', limit: 40, embedding }), nearestByCosine([...live, back], { text: '', limit: 40, embedding }), 40, 'one added back');
      for (const doc of docs) await provider.remove(doc.id);
      expect(await idsOf(provider, { text: '', limit: 40, embedding })).toEqual([]);
    });

    check('vectors', 'an embedding with an empty text searches by the vector alone; without textWeight the text does not count', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 80, 9);
      await addAll(provider, docs);
      const embedding = randomVector(seededRandom(10), dimensions);
      const model = nearestByCosine(docs, { text: '', limit: 80, embedding });
      for (const text of ['', 'apple', 'apple banana', '"unterminated', '\uD800']) {
        expectNearest(await searchChecked(provider, { text, limit: 80, embedding }), model, 80, JSON.stringify(text));
      }
    });

    check('vectors', 'hybrid: textWeight 1 ranks the text hits in text order, 0 the memories with embeddings in vector order', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 120, 11);
      await addAll(provider, docs);
      const embedding = randomVector(seededRandom(12), dimensions);
      for (const filter of [{}, { tags: ['red'] }, { namespace: 'one' }] as Array<Pick<SearchRequest, 'tags' | 'namespace'>>) {
        const label = JSON.stringify(filter);
        const text = await searchChecked(provider, { text: 'apple', limit: 120, ...filter });
        expect(text.length, `${label}: some memories hold apple`).toBeGreaterThan(0);
        const textScore = new Map(text.map((hit) => [hit.id, hit.score]));
        const byText = await searchChecked(provider, { text: 'apple', limit: 120, embedding, textWeight: 1, ...filter });
        const textual = byText.filter((hit) => textScore.has(hit.id));
        expect(sorted(textual.map((hit) => hit.id)), `${label}: every text hit is a hybrid hit`).toEqual(sorted(text.map((hit) => hit.id)));
        expect(byText.slice(0, textual.length), `${label}: text hits come first`).toEqual(textual);
        expectDescending(textual.map((hit) => textScore.get(hit.id)!), `${label}: textWeight 1 keeps the text order`);
        const byVector = await searchChecked(provider, { text: 'apple', limit: 120, embedding, textWeight: 0, ...filter });
        const vectored = byVector.filter((hit) => hasVector(docs[hit.id - 1]!, dimensions));
        expectNearest(vectored, nearestByCosine(docs, { text: '', limit: 120, embedding, ...filter }), 120, `${label}: textWeight 0 keeps the vector order`);
      }
    });

    check('vectors', 'hybrid: a memory matching both the text and the embedding outranks those matching one, with equal parts', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const random = seededRandom(13);
      const embedding = randomVector(random, dimensions);
      await addAll(provider, [
        memory(1, 'walrus tusk', ['both'], 'default', embedding),
        memory(2, 'walrus tusk', ['text']),
        memory(3, 'pelican beak', ['vector'], 'default', embedding),
        ...Array.from({ length: 20 }, (_, i) => memory(10 + i, `filler memory number ${i}`, [], 'default', randomVector(random, dimensions))),
      ]);
      for (const textWeight of [0.25, 0.5, 0.75]) {
        const hits = await searchChecked(provider, { text: 'walrus', limit: 30, embedding, textWeight });
        const score = new Map(hits.map((hit) => [hit.id, hit.score]));
        expect(hits[0]?.id, `textWeight ${textWeight}`).toBe(1);
        expect(score.has(2) && score.has(3), `textWeight ${textWeight}: a hit by its text alone and one by its embedding alone`).toBe(true);
        expect(score.get(1)!, `textWeight ${textWeight}`).toBeGreaterThan(score.get(2)!);
        expect(score.get(1)!, `textWeight ${textWeight}`).toBeGreaterThan(score.get(3)!);
        expect(await idsOf(provider, { text: 'walrus', limit: 1, embedding, textWeight })).toEqual([1]);
        expect(await idsOf(provider, { text: 'walrus', limit: 10, embedding, textWeight, tags: ['text'] })).toEqual([2]);
      }
    });

    check('vectors', 'hybrid: a memory is a hit by its text or its embedding, within the filters and the limit', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 120, 14);
      await addAll(provider, docs);
      const embedding = randomVector(seededRandom(15), dimensions);
      const filters: Array<Pick<SearchRequest, 'tags' | 'namespace'>> = [{}, { tags: ['red'] }, { namespace: 'one' }, { tags: ['red', 'green'], namespace: 'two' }];
      for (const filter of filters) {
        const label = JSON.stringify(filter);
        const expected = docs.filter((doc) => passesFilters(doc, filter) && (hasVector(doc, dimensions) || doc.text.split(' ').includes('apple'))).map((doc) => doc.id);
        const all = await searchChecked(provider, { text: 'apple', limit: 120, embedding, textWeight: 0.5, ...filter });
        expect(sorted(all.map((hit) => hit.id)), label).toEqual(sorted(expected));
        for (const limit of [1, 5]) {
          const some = await searchChecked(provider, { text: 'apple', limit, embedding, textWeight: 0.5, ...filter });
          expect(some.length, `${label}, limit ${limit}`).toBe(Math.min(limit, expected.length));
          expectDescending([...some.map((hit) => hit.score), ...all.slice(some.length).map((hit) => hit.score)], `${label}: the best ${limit} are the best of all`);
        }
      }
    });

    check(
      'vectors',
      'a snapshot keeps the embeddings',
      async (provider) => {
        const dimensions = dimensionsOf(provider);
        const docs = new Map(vectorMemories(dimensions, 100, 16).map((doc) => [doc.id, doc]));
        await addAll(provider, [...docs.values()]);
        const random = seededRandom(17);
        await provider.remove(5);
        docs.delete(5);
        const replaced = memory(6, 'apple replaced', ['red'], 'one', randomVector(random, dimensions));
        await provider.add(replaced);
        docs.set(6, replaced);
        const restored = await createProvider();
        try {
          await restored.importSnapshot!(await provider.exportSnapshot!());
          for (const embedding of [randomVector(random, dimensions), replaced.embedding!]) {
            for (const request of [{ text: '', limit: 100, embedding }, { text: '', limit: 7, embedding, tags: ['red'] }, { text: '', limit: 100, embedding, namespace: 'two' }]) {
              expectNearest(await searchChecked(restored, request), nearestByCosine(docs.values(), request), request.limit, `restored ${JSON.stringify({ ...request, embedding: undefined })}`);
            }
            const hybrid: SearchRequest = { text: 'apple', limit: 100, embedding, textWeight: 0.5 };
            expect(await idsOf(restored, hybrid)).toEqual(await idsOf(provider, hybrid));
          }
          const added = memory(1_000, 'newcomer', [], 'default', randomVector(random, dimensions));
          await restored.add(added);
          expect(await idsOf(restored, { text: '', limit: 1, embedding: added.embedding! })).toEqual([1_000]);
        } finally {
          await restored.close?.();
        }
      },
      ['snapshot'],
    );

    check(
      'vectors',
      'an index saved in a folder keeps the embeddings',
      async (provider) => {
        const dimensions = dimensionsOf(provider);
        await inFolder(async (folder) => {
          await provider.openIndex!(folder, undefined);
          const docs = vectorMemories(dimensions, 100, 18);
          await addAll(provider, docs);
          const saved = await provider.saveIndex!();
          const embedding = randomVector(seededRandom(19), dimensions);
          await reopened(folder, saved, async (restored) => {
            for (const request of [{ text: '', limit: 100, embedding }, { text: '', limit: 7, embedding, tags: ['red'] }]) {
              expectNearest(await searchChecked(restored, request), nearestByCosine(docs, request), request.limit, `reopened, limit ${request.limit}`);
            }
          });
        });
      },
      ['persistent'],
    );

    check('vectors', 'clear drops every embedding and the provider stays usable', async (provider) => {
      const dimensions = dimensionsOf(provider);
      const docs = vectorMemories(dimensions, 30, 20);
      await addAll(provider, docs);
      const embedding = randomVector(seededRandom(21), dimensions);
      await provider.clear();
      expect(await idsOf(provider, { text: '', limit: 30, embedding })).toEqual([]);
      expect(await idsOf(provider, { text: 'apple', limit: 30, embedding, textWeight: 0.5 })).toEqual([]);
      await provider.add(memory(7, 'back again', [], 'default', embedding));
      expect(await idsOf(provider, { text: '', limit: 30, embedding })).toEqual([7]);
    });

    check('contract', 'clear drops every memory and the provider stays usable', async (provider) => {
      await addAll(provider, [memory(1, 'alpha', ['a'], 'x'), memory(2, 'alpha beta')]);
      await provider.clear();
      expect(await idsOf(provider, { text: 'alpha', limit: 10 })).toEqual([]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10, tags: ['a'], namespace: 'x' })).toEqual([]);
      await provider.remove(1);
      await provider.add(memory(1, 'beta', ['a'], 'x'));
      expect(await idsOf(provider, { text: 'beta', limit: 10, tags: ['a'], namespace: 'x' })).toEqual([1]);
      expect(await idsOf(provider, { text: 'alpha', limit: 10 })).toEqual([]);
    });

    const unknown = [...skipped].filter((entry) => !known.has(entry));
    if (unknown.length > 0) {
      throw new Error(`[memmapfs] [testkit] searchProviderSuite('${name}') was asked to skip checks it does not have: ${unknown.map((entry) => JSON.stringify(entry)).join(', ')}.`);
    }
  });
}

const snapshotRequests: SearchRequest[] = [
  { text: 'alpha', limit: 10 },
  { text: 'alpha', limit: 2 },
  { text: 'banana', limit: 10 },
  { text: 'alpha banana', limit: 10 },
  { text: 'café', limit: 10 },
  { text: 'alpha', limit: 10, tags: ['a'] },
  { text: 'alpha', limit: 10, tags: ['a', 'b'] },
  { text: 'alpha', limit: 10, namespace: 'other' },
  { text: 'text', limit: 10, tags: ['b'], namespace: 'other' },
];

function snapshotMemories(): SearchDocument[] {
  return [
    memory(1, 'alpha banana first text', ['a', 'b']),
    memory(2, 'alpha second text', ['a']),
    memory(3, 'banana third text café', ['b'], 'other'),
    memory(4, 'alpha fourth text', ['a', 'b'], 'other'),
    memory(5, 'alpha banana fifth text', [], 'other'),
    memory(6, 'kiwi sixth text', ['c']),
  ];
}

function memory(id: number, text: string, tags: readonly string[] = [], namespace = 'default', embedding?: Float32Array): SearchDocument {
  return embedding === undefined ? { id, text, tags, namespace } : { id, text, tags, namespace, embedding };
}

/**
 * `count` memories with ids from 1, for the vector checks: texts of one to six words of the
 * vocabulary, tags and namespaces of the model's, and a random embedding of `dimensions` numbers,
 * except every tenth (none) and two in fifteen (one number more, or one fewer).
 */
function vectorMemories(dimensions: number, count: number, seed: number): SearchDocument[] {
  const random = seededRandom(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const words = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(vocabulary));
    const tags = modelTags.filter(() => random() < 0.5);
    const embedding = i % 10 === 3 ? undefined : i % 15 === 7 ? randomVector(random, dimensions + 1) : i % 15 === 11 && dimensions > 1 ? randomVector(random, dimensions - 1) : randomVector(random, dimensions);
    return memory(i + 1, words.join(' '), tags, pick(modelNamespaces), embedding);
  });
}

async function addAll(provider: SearchProvider, docs: readonly SearchDocument[]): Promise<void> {
  for (const doc of docs) await provider.add(doc);
}

/** Searches and checks the shape every result must have, whatever the query. */
async function searchChecked(provider: SearchProvider, request: SearchRequest): Promise<SearchHit[]> {
  const hits = await provider.search(request);
  expect(Array.isArray(hits), `search ${JSON.stringify(request.text.slice(0, 40))} returns an array`).toBe(true);
  expect(hits.length, `search ${JSON.stringify(request.text.slice(0, 40))} with limit ${request.limit} returns at most that many hits`).toBeLessThanOrEqual(request.limit);
  const ids = new Set<number>();
  for (const [i, hit] of hits.entries()) {
    expect(Number.isInteger(hit.id), `hit id ${String(hit.id)} is an integer`).toBe(true);
    expect(Number.isFinite(hit.score), `hit score ${String(hit.score)} is finite`).toBe(true);
    expect(ids.has(hit.id), `hit id ${hit.id} appears once`).toBe(false);
    ids.add(hit.id);
    if (i > 0) expect(hit.score, 'hits are sorted by descending score').toBeLessThanOrEqual(hits[i - 1]!.score);
    if (i > 0 && hit.score === hits[i - 1]!.score) expect(hit.id, `hits ${i - 1} and ${i} have one score: the newer memory (the higher id) comes first`).toBeLessThan(hits[i - 1]!.id);
  }
  return hits;
}

async function idsOf(provider: SearchProvider, request: SearchRequest): Promise<number[]> {
  return (await searchChecked(provider, request)).map((hit) => hit.id);
}

function sorted(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}
