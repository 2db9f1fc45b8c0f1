import { describe, expect, it } from 'vitest';
import { crc32c } from '@memmapfs/wal';
import { mergeSegments, SegmentBuilder, SegmentCorrupt, SegmentReader, searchSegments, wordTokens, type IndexedDocument, type SegmentQuery } from '../src/index.js';
import { runToEnd } from '../src/segment-writer.js';
import { unicodeWords } from '@memmapfs/core';

describe('wordTokens', () => {
  it('splits on anything but letters, digits and marks, folds case and accents, keeps repeats', () => {
    expect(wordTokens('Café au LAIT, café-crème; naïve Ünïcödé 42x')).toEqual(['cafe', 'au', 'lait', 'cafe', 'creme', 'naive', 'unicode', '42x']);
    expect(wordTokens('Привет, мир! Γειά σου κόσμε')).toEqual(['привет', 'мир', 'γεια', 'σου', 'κοσμε']);
    expect(wordTokens('東京 タワー')).toEqual(['東京', 'タワー']);
    expect(wordTokens('हिन्दी')).toEqual(['हिन्दी']);
    expect(wordTokens(' \n\t—!?')).toEqual([]);
  });

  it('finds the same words in ASCII text character by character as by regular expression', () => {
    const next = random(99);
    const alphabet = 'aZ09 _-.,;:!?\'"()[]{}<>/\\@#$%^&*+=~`|\t\nqQmM';
    for (let n = 0; n < 2000; n++) {
      const text = Array.from({ length: Math.floor(next() * 40) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      expect(wordTokens(text), JSON.stringify(text)).toEqual(unicodeWords(text));
    }
  });
});

/** A small random generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const vocabulary = ['alpha', 'beta', 'gamma', 'delta', 'deploy', 'deployment', 'deployed', 'meeting', 'memo', 'memory', 'tea', 'teapot', 'friday', 'café', 'zeta', 'é', 'ω'];

function randomDocs(next: () => number, count: number, firstId = 1): IndexedDocument[] {
  return Array.from({ length: count }, (_, i) => {
    const words = Array.from({ length: 1 + Math.floor(next() * 12) }, () => vocabulary[Math.floor(next() * next() * vocabulary.length)]!);
    const tags = ['red', 'green', 'blue'].filter(() => next() < 0.4);
    return { id: firstId + i * 3, text: words.join(next() < 0.5 ? ' ' : ', '), tags, namespace: next() < 0.7 ? 'default' : 'other' };
  });
}

/** BM25 as FTS5 computes it, from the documents themselves: what the index must agree with. */
function bruteForce(docs: IndexedDocument[], query: SegmentQuery, deleted: Set<number>): Array<{ id: number; score: number }> {
  // (Each word once; the query's last word last, wherever else it comes: it is the one matched as a prefix.)
  const all = wordTokens(query.text);
  const words = [...new Set(all.filter((word) => word !== all.at(-1))), ...all.slice(-1)];
  const tokens = docs.map((doc) => wordTokens(doc.text));
  const average = tokens.reduce((sum, t) => sum + t.length, 0) / docs.length || 1;
  const matches = (word: string, i: number, token: string) => (query.prefix !== false && i === words.length - 1 ? token.startsWith(word) : token === word);
  const idf = words.map((word, i) => {
    const n = tokens.filter((t) => t.some((token) => matches(word, i, token))).length;
    const value = Math.log((docs.length - n + 0.5) / (n + 0.5));
    return value > 0 ? value : 1e-6;
  });
  const hits: Array<{ id: number; score: number }> = [];
  docs.forEach((doc, d) => {
    if (deleted.has(doc.id)) return;
    if (query.namespace !== undefined && doc.namespace !== query.namespace) return;
    if (!(query.tags ?? []).every((tag) => doc.tags.includes(tag))) return;
    let score = 0;
    let matched = 0;
    words.forEach((word, i) => {
      const frequency = tokens[d]!.filter((token) => matches(word, i, token)).length;
      if (frequency === 0) return;
      matched++;
      score += (idf[i]! * frequency * 2.2) / (frequency + 1.2 * (0.25 + (0.75 * tokens[d]!.length) / average));
    });
    if (matched > 0 && (query.match !== 'all' || matched === words.length)) hits.push({ id: doc.id, score });
  });
  hits.sort((a, b) => b.score - a.score || b.id - a.id);
  return hits.slice(0, query.limit);
}

function segmentOf(docs: IndexedDocument[]): SegmentReader {
  const builder = new SegmentBuilder();
  for (const doc of docs) builder.add(doc);
  return new SegmentReader(builder.build());
}

describe('a segment', () => {
  it('reads back its documents by id, their lengths and their terms', () => {
    const reader = segmentOf([
      { id: 9, text: 'the tea is ready', tags: ['kitchen'], namespace: 'home' },
      { id: 4, text: 'Tea, tea and more TEA', tags: [], namespace: 'default' },
    ]);
    expect(reader.verify()).toBe(true);
    expect([reader.docCount, reader.totalLength]).toEqual([2, 9]);
    expect([reader.idAt(0), reader.idAt(1), reader.rowOf(9), reader.rowOf(5)]).toEqual([4, 9, 1, -1]);
    const tea = reader.findTerm(Buffer.from('tea'));
    const seen: Array<[number, number]> = [];
    reader.forEachPosting(tea, (row, frequency) => seen.push([row, frequency]));
    expect(seen).toEqual([[0, 3], [1, 1]]);
    expect(reader.findTerm(Buffer.from('te'))).toBe(-1);
  });

  it('copies postings in batches no larger than the arrays it is given, written or still in memory, as walkUntil visits them', () => {
    const next = random(7);
    const docs = randomDocs(next, 300);
    const builder = new SegmentBuilder();
    for (const doc of docs) builder.add(doc);
    const reader = new SegmentReader(builder.build());
    for (const segment of [builder, reader]) {
      for (const word of ['alpha', 'memo', 'tea', 'zeta']) {
        const term = segment.termId(word);
        expect(term, word).toBeGreaterThanOrEqual(0);
        const walked: number[][] = [];
        segment.cursor(term).walkUntil(Number.POSITIVE_INFINITY, (row, frequency) => walked.push([row, frequency]));
        expect(walked.length, word).toBeGreaterThan(7);
        // In windows of 50 rows, three postings at a time at most: each call stops where the arrays are full or the window ends.
        const cursor = segment.cursor(term);
        const rows = new Int32Array(3);
        const frequencies = new Int32Array(5);
        const read: number[][] = [];
        for (let end = 50; read.length < walked.length; end += 50) {
          for (;;) {
            const count = cursor.readUntil(end, rows, frequencies);
            expect(count).toBeLessThanOrEqual(3);
            for (let i = 0; i < count; i++) {
              expect(rows[i]!).toBeLessThan(end);
              read.push([rows[i]!, frequencies[i]!]);
            }
            if (count < 3) break;
          }
          expect(cursor.row).toBeGreaterThanOrEqual(end);
        }
        expect(read, word).toEqual(walked);
        expect(cursor.readUntil(Number.POSITIVE_INFINITY, rows, frequencies)).toBe(0);
      }
    }
  });

  it('ranks as BM25 computed from the documents does, with prefixes, filters, both match modes and deletions', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const next = random(seed);
      const docs = randomDocs(next, 5 + Math.floor(next() * 200));
      // Split over one to three segments, as an index holds them between merges.
      const parts = 1 + Math.floor(next() * 3);
      const segments = Array.from({ length: parts }, (_, p) => segmentOf(docs.filter((_, i) => i % parts === p)));
      const deleted = new Set(docs.filter(() => next() < 0.1).map((doc) => doc.id));
      for (let q = 0; q < 20; q++) {
        const words = Array.from({ length: 1 + Math.floor(next() * 3) }, () => vocabulary[Math.floor(next() * vocabulary.length)]!.slice(0, next() < 0.3 ? 3 : undefined));
        const query: SegmentQuery = {
          text: words.join(' '),
          limit: 1 + Math.floor(next() * 15),
          ...(next() < 0.3 ? { tags: ['red'] } : {}),
          ...(next() < 0.2 ? { tags: ['red', 'blue'] } : {}),
          ...(next() < 0.3 ? { namespace: 'other' } : {}),
          ...(next() < 0.3 ? { prefix: false } : {}),
          ...(next() < 0.3 ? { match: 'all' as const } : {}),
        };
        const expected = bruteForce(docs, query, deleted);
        // Scored in windows of rows of any size, the same.
        for (const window of [undefined, 1, 7, 64]) {
          const got = searchSegments(segments, query, (_segment, _row, id) => deleted.has(id), window);
          expect(got.map((hit) => hit.id), `seed ${seed}, window ${window}, ${JSON.stringify(query)}`).toEqual(expected.map((hit) => hit.id));
          got.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]!.score, 9));
        }
      }
    }
  });

  it('merges into the very bytes one segment built from the live documents has, ids interleaved across the inputs or not', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const next = random(seed);
      const docs = randomDocs(next, 20 + Math.floor(next() * 300));
      // Inputs of consecutive ids (as bulk loads make them) or of ids dealt out at random (as updates make them).
      const parts = 2 + Math.floor(next() * 4);
      const interleaved = seed % 2 === 0;
      const inputs = Array.from({ length: parts }, () => [] as IndexedDocument[]);
      docs.forEach((doc, i) => inputs[interleaved ? Math.floor(next() * parts) : Math.floor((i * parts) / docs.length)]!.push(doc));
      const dead = new Set(docs.filter(() => next() < 0.2).map((doc) => doc.id));
      const readers = inputs.map((part) => segmentOf(part));
      const merged = runToEnd(mergeSegments(readers, (_input, _row, id) => !dead.has(id)));
      const live = docs.filter((doc) => !dead.has(doc.id));
      const built = new SegmentBuilder();
      for (const doc of live) built.add(doc);
      expect(merged.equals(built.build()), `seed ${seed}`).toBe(true);
    }
  });

  it('keeps every term\'s postings whole when they fill many of the encoder\'s buffers, a term\'s alone more than one, built and merged', () => {
    const docs: IndexedDocument[] = Array.from({ length: 50_000 }, (_, i) => ({ id: i + 1, text: `common w${i % 5000} x${i % 37}${i % 3 === 0 ? ' common' : ''}`, tags: [], namespace: 'default' }));
    const builder = new SegmentBuilder();
    for (const doc of docs) builder.add(doc);
    const built = builder.build();
    const reader = new SegmentReader(built);
    const expected = new Map<string, Array<[number, number]>>();
    docs.forEach((doc, row) => {
      const counts = new Map<string, number>();
      for (const word of unicodeWords(doc.text)) counts.set(word, (counts.get(word) ?? 0) + 1);
      for (const [word, frequency] of counts) (expected.get(word) ?? expected.set(word, []).get(word)!).push([row, frequency]);
    });
    for (const [word, postings] of expected) {
      const seen: Array<[number, number]> = [];
      reader.forEachPosting(reader.findTerm(Buffer.from(word)), (row, frequency) => seen.push([row, frequency]));
      expect(seen, word).toEqual(postings);
    }
    const merged = runToEnd(mergeSegments([segmentOf(docs.slice(0, 20_000)), segmentOf(docs.slice(20_000))], () => true));
    expect(merged.equals(built)).toBe(true);
  });

  it('leaves its shared arrays clean when the deletion check throws', () => {
    const reader = segmentOf(Array.from({ length: 50 }, (_, i) => ({ id: i + 1, text: `alpha beta ${i}`, tags: ['red'], namespace: 'default' })));
    expect(() => searchSegments([reader], { text: 'alpha', limit: 5, tags: ['red'] }, () => {
      throw new Error('boom');
    })).toThrow('boom');
    // Every document scores the same again: nothing left over from the failed query.
    const hits = searchSegments([reader], { text: 'beta', limit: 50 }, () => false);
    expect(hits).toHaveLength(50);
    expect(new Set(hits.map((hit) => hit.score.toFixed(12))).size).toBeLessThanOrEqual(2);
    expect(searchSegments([reader], { text: 'alpha', limit: 50, tags: ['red'] }, () => false)).toHaveLength(50);
  });

  it('finds nothing for a query without words, a namespace or tag no document has, or an empty index', () => {
    const reader = segmentOf([{ id: 1, text: 'alpha beta', tags: ['red'], namespace: 'default' }]);
    expect(searchSegments([reader], { text: ' ,;! ', limit: 5 }, () => false)).toEqual([]);
    expect(searchSegments([reader], { text: 'alpha', limit: 5, namespace: 'elsewhere' }, () => false)).toEqual([]);
    expect(searchSegments([reader], { text: 'alpha', limit: 5, tags: ['red', 'green'] }, () => false)).toEqual([]);
    expect(searchSegments([], { text: 'alpha', limit: 5 }, () => false)).toEqual([]);
    expect(searchSegments([segmentOf([])], { text: 'alpha', limit: 5 }, () => false)).toEqual([]);
  });

  it("keeps each document's length in a column of two bytes a document, which BM25 reads (the row only for a length too long for it)", () => {
    const long = Array.from({ length: 70_000 }, (_, i) => (i === 0 ? 'tea' : 'word')).join(' ');
    const builder = new SegmentBuilder();
    builder.add({ id: 4, text: 'Tea, tea and more TEA', tags: [], namespace: 'default' });
    builder.add({ id: 9, text: long, tags: [], namespace: 'default' });
    const file = builder.build();
    expect(file.readUInt32LE(8)).toBe(3);
    const lengths = file.readUInt32LE(56);
    expect(lengths).toBe(64 + 2 * 16);
    expect([file.readUInt16LE(lengths), file.readUInt16LE(lengths + 2)]).toEqual([5, 0xffff]);
    expect(file.readUInt32LE(64 + 16 + 8)).toBe(70_000);
    // The rows' copies of the short length changed: the column's is read (its row is not: its check is
    // made when the row is read, and is taken as made here).
    const changed = Buffer.from(file);
    changed.writeUInt32LE(4_000, 64 + 8);
    expect(new SegmentReader(changed).lengthAt(0)).toBe(5);
    expect(() => new SegmentReader(changed).idAt(0)).toThrow('document row 0 fails');
    const reader = new SegmentReader(changed);
    reader.trustBody();
    expect([reader.lengthAt(0), reader.lengthAt(1)]).toEqual([5, 70_000]);
    expect(searchSegments([reader], { text: 'tea', limit: 2 }, () => false)).toEqual(searchSegments([new SegmentReader(file)], { text: 'tea', limit: 2 }, () => false));
  });

  it('reads a segment of format version 1 (no lengths column), as a release before the column wrote it', () => {
    // Written by that release's builder from these two documents.
    const v1 = Buffer.from(
      'TU1GUy1TRUcBAAAASywnNQIAAAAJAAAAAAAAAAAAIkBAAAAAYAAAAPAAAAAgAQAAOAEAAIM4hmcAAAAAAAAAAAAAAAAAABBABQAAAAAAAAAAAAAAAAAiQAQAAAAAAAAA8AAAAAoAAAAgAQAAAQAAAPoAAAAHAAAAIgEAAAEAAAABAQAACgAAACQBAAABAAAACwEAAAMAAAAmAQAAAQAAAA4BAAACAAAAKAEAAAEAAAAQAQAABAAAACoBAAABAAAAFAEAAAUAAAAsAQAAAQAAABkBAAADAAAALgEAAAIAAAAcAQAAAwAAADIBAAABAAAAAW46ZGVmYXVsdAFuOmhvbWUBdDpraXRjaGVuYW5kaXNtb3JlcmVhZHl0ZWF0aGUAAQEAAQABAAEBAQABAQEAAwEBAQEAAAAA',
      'base64',
    );
    const docs: IndexedDocument[] = [
      { id: 4, text: 'Tea, tea and more TEA', tags: ['kitchen'], namespace: 'home' },
      { id: 9, text: 'the tea is ready', tags: [], namespace: 'default' },
    ];
    const old = new SegmentReader(v1);
    expect(v1.readUInt32LE(8)).toBe(1);
    // (Version 1 has no lengths offset: whatever lies at its place in the header is not read.)
    const junk = Buffer.from(v1);
    junk.writeUInt32LE(0xdeadbeef, 56);
    junk.writeUInt32LE(crc32c(junk.subarray(16, 64)), 12);
    expect([new SegmentReader(junk).lengthAt(0), new SegmentReader(junk).lengthAt(1)]).toEqual([5, 4]);
    expect(old.verify()).toBe(true);
    expect([old.docCount, old.totalLength, old.idAt(0), old.idAt(1), old.lengthAt(0), old.lengthAt(1)]).toEqual([2, 9, 4, 9, 5, 4]);
    const current = segmentOf(docs);
    for (const query of [{ text: 'tea', limit: 5 }, { text: 'rea', limit: 5 }, { text: 'tea', limit: 5, tags: ['kitchen'] }, { text: 'tea', limit: 5, namespace: 'default' }] as SegmentQuery[]) {
      expect(searchSegments([old], query, () => false), query.text).toEqual(searchSegments([current], query, () => false));
    }
    // Merged, it is written in the current version.
    expect(runToEnd(mergeSegments([old], () => true)).readUInt32LE(8)).toBe(3);
  });

  it('finds a part a query reads damaged when it first reads it (rows, lengths, terms, a term\'s postings), and reads the rest', () => {
    const next = random(7);
    // Enough documents for several groups of rows and of lengths, enough terms for several groups of terms.
    const docs = Array.from({ length: 5000 }, (_, i) => ({ id: i + 1, text: `common word${i % 700} w${Math.floor(next() * 400)}`, tags: i % 2 ? ['odd'] : [], namespace: 'default' }));
    const builder = new SegmentBuilder();
    for (const doc of docs) builder.add(doc);
    const file = builder.build();
    const whole = new SegmentReader(file);
    expect(whole.termCount).toBeGreaterThan(1000);
    const query = (reader: SegmentReader, text: string) => searchSegments([reader], { text, limit: 5, prefix: false }, () => false);
    const before = ['common', 'word699', 'common word5'].map((text) => query(whole, text));
    expect(before[0]).toEqual(bruteForce(docs, { text: 'common', limit: 5, prefix: false }, new Set()));
    const damagedAt = (at: number) => {
      const bytes = Buffer.from(file);
      bytes[at]! ^= 0x10;
      return new SegmentReader(bytes);
    };
    const termRows = file.readUInt32LE(36);
    const termBytes = file.readUInt32LE(40);
    const postings = file.readUInt32LE(44);
    const lengths = file.readUInt32LE(56);
    const checks = file.readUInt32LE(60);
    const term = whole.termId('word699');
    const postingsOf = (index: number) => file.readUInt32LE(termRows + index * 16 + 8);
    // A term's postings: a query for it fails, one for another term answers as the whole segment does.
    const inPostings = damagedAt(postingsOf(term));
    expect(() => query(inPostings, 'word699')).toThrow(SegmentCorrupt);
    expect(() => query(inPostings, 'word699')).toThrow(`the postings of its term ${term} fail`);
    expect(query(inPostings, 'word5')).toEqual(query(whole, 'word5'));
    // Its check in the checks section: the same.
    expect(() => query(damagedAt(checks + term * 4), 'word699')).toThrow('postings of its term');
    // A term's row, or its bytes: a query that looks terms up in that group fails.
    expect(() => query(damagedAt(termRows + term * 16 + 4), 'word699')).toThrow(/its terms \d+–\d+ fail/);
    const bytesOfTerm = file.readUInt32LE(termRows + term * 16);
    expect(() => query(damagedAt(bytesOfTerm), 'word699')).toThrow(/its terms \d+–\d+ fail/);
    // A term row pointing outside the term bytes: damaged, never read past them.
    expect(() => query(damagedAt(termRows + term * 16 + 3), 'word699')).toThrow(/its terms \d+–\d+ fail/);
    // The lengths BM25 reads, and the rows ids are read from: the query scoring or returning them fails.
    expect(() => query(damagedAt(lengths + 2 * 4999), 'common')).toThrow('document lengths 4864–4999 fail');
    expect(() => query(damagedAt(64 + 16 * 4899), 'word699')).toThrow('document row 4899 fails its check');
    expect(() => query(damagedAt(64 + 16 * 4899 + 13), 'word699')).toThrow('document row 4899 fails its check');
    expect(() => damagedAt(64 + 16 * 2499 + 9).rowOf(2500)).toThrow('document row 2499 fails its check');
    // Any one bit of a row flipped (its id, its length or its check) fails its check.
    for (let bit = 0; bit < 128; bit++) {
      const bytes = Buffer.from(file);
      bytes[64 + 16 * 2499 + (bit >>> 3)]! ^= 1 << (bit & 7);
      expect(() => new SegmentReader(bytes).idAt(2499), `bit ${bit}`).toThrow('document row 2499 fails its check');
    }
    // A row's check is its own: a row next to a damaged one reads as it is.
    expect(damagedAt(64 + 16 * 2499).idAt(2500)).toBe(2501);
    // A search cut short by a damaged part leaves the arrays every search shares clean.
    expect(['common', 'word699', 'common word5'].map((text) => query(whole, text))).toEqual(before);
    // Each part is checked once: a reader that read a part keeps answering from it (no second check).
    const reader = new SegmentReader(file);
    expect(query(reader, 'word699')).toEqual(query(whole, 'word699'));
    expect(reader.verify()).toBe(true);
    // The postings end where the next term's begin; the last term's at the checks section.
    expect(postingsOf(whole.termCount - 1)).toBeLessThan(checks);
    expect(postings).toBeLessThan(checks);
    expect(termBytes).toBeLessThan(postings);
  });

  it('reads a segment of version 2 (no checks section) without checking its parts, as before', () => {
    const docs = [
      { id: 4, text: 'Tea, tea and more TEA', tags: ['kitchen'], namespace: 'home' },
      { id: 9, text: 'the tea is ready', tags: [], namespace: 'default' },
      { id: 11, text: 'coffee is ready too', tags: [], namespace: 'default' },
      { id: 12, text: 'and so is the cake', tags: [], namespace: 'default' },
    ];
    const builder = new SegmentBuilder();
    for (const doc of docs) builder.add(doc);
    // Version 2 as that release laid it out, but for the checks at the end (which it did not have and does not read).
    const v2 = builder.build();
    v2.writeUInt32LE(2, 8);
    v2.writeUInt32LE(0, 60);
    v2.writeUInt32LE(crc32c(v2.subarray(16, 64)), 12);
    const reader = new SegmentReader(v2);
    expect(searchSegments([reader], { text: 'tea', limit: 5 }, () => false).map((hit) => hit.id)).toEqual([4, 9]);
    // Its postings damaged: read as they are (only `verify` finds it).
    const damaged = Buffer.from(v2);
    damaged[v2.readUInt32LE(44)]! ^= 0x01;
    expect(() => searchSegments([new SegmentReader(damaged)], { text: 'tea', limit: 5 }, () => false)).not.toThrow();
    expect(new SegmentReader(damaged).verify()).toBe(false);
  });

  it('refuses a document twice, and bytes that are not a segment or were damaged', () => {
    const builder = new SegmentBuilder();
    builder.add({ id: 1, text: 'once', tags: [], namespace: 'default' });
    expect(() => builder.add({ id: 1, text: 'twice', tags: [], namespace: 'default' })).toThrow('already');
    const bytes = builder.build();
    expect(() => new SegmentReader(Buffer.from('not a segment at all, not at all, not at all, not at all, nope'))).toThrow(SegmentCorrupt);
    const header = Buffer.from(bytes);
    header[20]! ^= 1;
    expect(() => new SegmentReader(header)).toThrow('checksum');
    const body = Buffer.from(bytes);
    body[body.length - 9]! ^= 0xff;
    expect(new SegmentReader(body).verify()).toBe(false);
    expect(() => new SegmentReader(bytes.subarray(0, bytes.length - 8))).toThrow('bytes long');
    // A version number damaged (it is not under the header's checksum): one that claims fewer checks than
    // the file has is refused as damaged; one this release does not know is said to be so, not damage.
    for (const version of [1, 2]) {
      const claimed = Buffer.from(bytes);
      claimed.writeUInt32LE(version, 8);
      expect(() => new SegmentReader(claimed)).toThrow(expect.objectContaining({ unsupportedVersion: false, message: expect.stringContaining('its version was damaged') }));
    }
    const newer = Buffer.from(bytes);
    newer.writeUInt32LE(7, 8);
    expect(() => new SegmentReader(newer)).toThrow(expect.objectContaining({ unsupportedVersion: true }));
    // A header whose sections reach past the file, its checksum made right: refused, never read past the end.
    const beyond = Buffer.from(bytes);
    beyond.writeUInt32LE(beyond.length + 64, 40);
    beyond.writeUInt32LE(crc32c(beyond.subarray(16, 64)), 12);
    expect(() => new SegmentReader(beyond)).toThrow('do not add up');
    // A lengths column at an odd offset, over the document rows, or running into the term rows: refused.
    const lengthsAt = (offset: number) => {
      const changed = Buffer.from(bytes);
      changed.writeUInt32LE(offset, 56);
      changed.writeUInt32LE(crc32c(changed.subarray(16, 64)), 12);
      return () => new SegmentReader(changed);
    };
    const termRows = bytes.readUInt32LE(36);
    for (const offset of [bytes.readUInt32LE(56) + 1, 64 + 8, termRows - 1, termRows + 2, 0xfffffffe]) expect(lengthsAt(offset), String(offset)).toThrow('do not add up');
    expect(lengthsAt(bytes.readUInt32LE(56))().lengthAt(0)).toBe(1);
  });
});
