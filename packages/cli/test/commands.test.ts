import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemMapFS, type AgentState, type Memory, type MemoryPage } from '@memmapfs/core';
import { orama } from '@memmapfs/search-orama';
import stringWidth from 'string-width';
import { beforeEach, describe, expect, it } from 'vitest';
import { binaryKind, memmapfs, type ProcessOptions, type ProcessRun } from './binary.js';
import { paths, useTempStore } from './harness.js';

useTempStore();

/** Longer for the tests of many processes when each starts through tsx (no build). */
const slow = binaryKind === 'dist' ? 30_000 : 180_000;

/** Runs the binary against the test's store. */
const run = (args: readonly string[], options?: ProcessOptions): Promise<ProcessRun> => memmapfs(['--root', paths.root, ...args], options);

/** Runs it and parses its stdout as JSON, which must be there: exit code 0 and a quiet stderr. */
async function json<T = unknown>(args: readonly string[], options?: ProcessOptions): Promise<T> {
  const result = await run(['--json', ...args], options);
  expect(result, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(result.stdout) as T;
}

/** A usage error: exit code 2, nothing on stdout, one line on stderr containing `message`. */
async function expectUsageError(args: readonly string[], message: string | RegExp, options?: ProcessOptions): Promise<void> {
  const result = await run(args, options);
  expect(result.code, args.join(' ')).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(message);
}

async function init(): Promise<void> {
  expect((await run(['init'])).code).toBe(0);
}

describe(`memmapfs in processes of its own (${binaryKind === 'dist' ? 'built dist/bin.js' : 'src/bin.ts through tsx'})`, () => {
  describe('append', () => {
    beforeEach(init);

    it("reads the text from stdin for '-' and for no TEXT, less one final line break", async () => {
      const dash = await json<{ id: number }>(['append', '-', '--tag', 'piped'], { stdin: 'from a pipe\n' });
      const none = await json<{ id: number }>(['append'], { stdin: 'line one\nline two\r\n' });
      expect((await json<Memory>(['get', String(dash.id)])).text).toBe('from a pipe');
      expect(await json<Memory>(['get', String(none.id)])).toMatchObject({ text: 'line one\nline two', tags: [] });
      expect((await json<Memory>(['get', String(dash.id)])).tags).toEqual(['piped']);
    });

    it('refuses empty stdin (exit 2) and writes nothing', async () => {
      await expectUsageError(['append'], /the text read from stdin must not be empty/, { stdin: '\n' });
      expect((await json<{ memories: number }>(['stats'])).memories).toBe(0);
    });
  });

  describe('update', () => {
    beforeEach(init);

    it('changes the text, tags or meta given and keeps the rest', async () => {
      const { id } = await json<{ id: number }>(['append', 'The user prefers dark mode', '--tag', 'ui', '--meta', '{"source":"chat"}', '--namespace', 'prefs']);
      const text = await json<Memory>(['update', String(id), '--text', 'The user prefers light mode']);
      expect(text).toMatchObject({ id, text: 'The user prefers light mode', tags: ['ui'], namespace: 'prefs', meta: { source: 'chat' } });
      expect(text.updatedAt).toBeGreaterThanOrEqual(text.createdAt);

      const human = await run(['update', String(id), '--tag', 'preference', '--tag', 'theme', '--meta', '{"source":"settings"}']);
      expect(human).toMatchObject({ code: 0, stderr: '' });
      expect(human.stdout).toMatch(/^The user prefers light mode\n#\d+ {2}namespace prefs {2}tags \[preference, theme\] .*meta \{"source":"settings"\}\n$/);

      expect((await json<Memory>(['update', String(id), '--clear-tags'])).tags).toEqual([]);
      expect(await json<Memory>(['update', String(id), '--text', '-'], { stdin: 'from stdin\n' })).toMatchObject({ text: 'from stdin', meta: { source: 'settings' } });
      expect((await json<Memory[]>(['query', 'stdin'])).map((hit) => hit.id)).toEqual([id]);
    }, slow);

    it('fails for a missing memory (exit 1) and for bad arguments (exit 2)', async () => {
      const missing = await run(['update', '99', '--text', 'x']);
      expect(missing).toEqual(expect.objectContaining({ code: 1, stdout: '', stderr: 'memmapfs: no memory with id 99\n' }));
      expect(JSON.parse((await run(['--json', 'update', '99', '--text', 'x'])).stderr)).toEqual({ error: { code: 'MEMORY_NOT_FOUND', message: 'no memory with id 99' } });
      await expectUsageError(['update', '1'], /nothing to change/);
      await expectUsageError(['update', 'one', '--text', 'x'], /ID must be a positive integer/);
      await expectUsageError(['update', '1', '--meta', '[1]'], /--meta must be a JSON object/);
      await expectUsageError(['update', '1', '--tag', 'a', '--clear-tags'], /not both/);
    });
  });

  describe('kv', () => {
    beforeEach(init);

    it('sets, gets, lists and deletes keys; JSON values, strings and bytes read back exactly', async () => {
      expect((await run(['kv', 'set', 'user.theme', 'dark', '--string'])).stdout).toBe('set user.theme\n');
      await run(['kv', 'set', 'session', '{"turn":3,"tools":["search"],"ratio":null}']);
      await run(['kv', 'set', 'blob', '{"$base64":"AP8Q"}']);
      await run(['kv', 'set', 'notes', '-', '--string'], { stdin: 'multi\nline\n' });
      expect((await run(['kv', 'get', 'user.theme'])).stdout).toBe('dark\n');
      expect((await run(['kv', 'get', 'session'])).stdout).toBe('{"turn":3,"tools":["search"],"ratio":null}\n');
      expect(await json(['kv', 'get', 'blob'])).toEqual({ key: 'blob', value: { $base64: 'AP8Q' } });
      expect(await json(['kv', 'get', 'notes'])).toEqual({ key: 'notes', value: 'multi\nline' });

      expect((await run(['kv', 'list'])).stdout).toBe('blob\nnotes\nsession\nuser.theme\n');
      expect(await json(['kv', 'list', '--prefix', 'user.'])).toEqual(['user.theme']);
      expect(await json(['kv', 'list', '--limit', '2', '--after', 'blob'])).toEqual(['notes', 'session']);

      expect(await run(['kv', 'delete', 'session'])).toMatchObject({ code: 0, stdout: 'deleted session\n' });
      const again = await run(['--json', 'kv', 'delete', 'session']);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toEqual({ deleted: false });
      expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'KEY_NOT_FOUND' } });
    }, slow);

    it('with --if-absent, sets a key only if it is not set, and fails (exit 1, KEY_EXISTS) leaving it as it was when it is', async () => {
      expect(await run(['kv', 'set', 'lock', 'worker 1', '--string', '--if-absent'])).toMatchObject({ code: 0, stdout: 'set lock\n' });
      const taken = await run(['--json', 'kv', 'set', 'lock', 'worker 2', '--string', '--if-absent']);
      expect(taken.code).toBe(1);
      expect(JSON.parse(taken.stdout)).toEqual({ key: 'lock', set: false });
      expect(JSON.parse(taken.stderr)).toMatchObject({ error: { code: 'KEY_EXISTS', message: expect.stringContaining('"lock" is set already') } });
      expect((await run(['kv', 'get', 'lock'])).stdout).toBe('worker 1\n');
      expect(await run(['kv', 'set', 'lock', 'worker 2', '--string'])).toMatchObject({ code: 0 });
      expect((await run(['kv', 'get', 'lock'])).stdout).toBe('worker 2\n');
    }, slow);

    it('fails for a key that is not set (exit 1) and for a value that is not JSON (exit 2, with the way out)', async () => {
      expect(await run(['kv', 'get', 'nope'])).toMatchObject({ code: 1, stdout: '', stderr: 'memmapfs: no KV key "nope"\n' });
      await expectUsageError(['kv', 'set', 'k', 'dark'], /VALUE is not valid JSON .*pass --string/);
      await expectUsageError(['kv', 'set', 'k'], /kv set: missing VALUE/);
      await expectUsageError(['kv'], /'kv' needs a subcommand: get, set, delete or list/);
      await expectUsageError(['stream'], /'stream' needs a subcommand: append, read, list or delete/);
      expect(await json(['kv', 'list'])).toEqual([]);
    });
  });

  describe('stream', () => {
    beforeEach(init);

    it('appends a file and stdin, and reads every byte back as appended', async () => {
      const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0x80]);
      const file = join(paths.dir, 'chunk.bin');
      await writeFile(file, bytes);
      expect(await json(['stream', 'append', 'log', file])).toEqual({ key: 'log', bytes: 8 });
      expect((await run(['stream', 'append', 'log', '-'], { stdin: 'tail text\n' })).stdout).toBe('appended 10 bytes to log\n');
      expect((await run(['stream', 'append', 'log'], { stdin: '!' })).code).toBe(0);
      const read = await run(['stream', 'read', 'log']);
      expect(read).toMatchObject({ code: 0, stderr: '' });
      expect(read.stdoutBytes).toEqual(Buffer.concat([bytes, Buffer.from('tail text\n!')]));
      expect(await json(['stream', 'read', 'log'])).toEqual({ key: 'log', bytes: 19, base64: read.stdoutBytes.toString('base64') });
      expect(await run(['stream', 'read', 'never-written'])).toMatchObject({ code: 0, stdout: '' });
      const missing = await run(['stream', 'append', 'log', join(paths.dir, 'absent.bin')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^memmapfs: cannot read .*absent\.bin/);
    }, slow);

    it('lists the streams there are and deletes one; a stream that is not there is exit code 1', async () => {
      for (const key of ['tool/b', 'chat', 'tool/a']) await run(['stream', 'append', key, '-'], { stdin: key });
      expect((await run(['stream', 'list'])).stdout).toBe('chat\ntool/a\ntool/b\n');
      expect(await json(['stream', 'list', '--prefix', 'tool/', '--after', 'tool/a'])).toEqual(['tool/b']);
      expect(await run(['stream', 'delete', 'tool/a'])).toMatchObject({ code: 0, stdout: 'deleted stream tool/a\n' });
      expect(await json(['stream', 'list', '--limit', '5'])).toEqual(['chat', 'tool/b']);
      expect(await run(['stream', 'read', 'tool/a'])).toMatchObject({ code: 0, stdout: '' });
      const again = await run(['--json', 'stream', 'delete', 'tool/a']);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toEqual({ deleted: false });
      expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'STREAM_NOT_FOUND' } });
      await expectUsageError(['stream', 'list', '--limit', '0'], /--limit/);
    }, slow);
  });

  describe('list', () => {
    beforeEach(init);

    it('pages through every memory, oldest first, with the cursor it prints', async () => {
      const lines = Array.from({ length: 7 }, (_, i) => JSON.stringify({ text: `note ${i}`, tags: i % 2 === 0 ? ['even'] : [], namespace: i < 5 ? 'a' : 'b' }));
      await run(['import'], { stdin: `${lines.join('\n')}\n` });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { memories: Memory[]; nextCursor: string | null } = await json(['list', '--limit', '3', ...(cursor ? ['--cursor', cursor] : [])]);
        seen.push(...page.memories.map((memory) => memory.text));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      expect(pages).toBe(3);
      expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `note ${i}`));

      const human = await run(['list', '--limit', '2', '--namespace', 'a', '--tag', 'even']);
      const [first, second, next] = human.stdout.trimEnd().split('\n');
      expect(first).toMatch(/^#\d+ {2}\[even\] {2}note 0$/);
      expect(second).toMatch(/^#\d+ {2}\[even\] {2}note 2$/);
      expect(next).toMatch(/^next: --cursor \S+$/);
      const rest = await run(['list', '--limit', '2', '--namespace', 'a', '--tag', 'even', '--cursor', next!.slice('next: --cursor '.length)]);
      expect(rest.stdout).toMatch(/^#\d+ {2}\[even\] {2}note 4\n$/);
      await expectUsageError(['list', '--limit', '0'], /--limit must be an integer from 1 to 1000/);
      expect((await run(['list', '--cursor', 'garbage'])).stderr).toMatch(/cursor must be the nextCursor of an earlier page.*\(INVALID_ARGUMENT\)/);
    }, slow);
  });

  describe('export and import', () => {
    beforeEach(init);

    it('round-trips every live memory, KV entry, stream and the state, values of every kind included', async () => {
      const meta = { source: 'chat', nested: { $ref: 'not a tag' }, ratio: 0.5, list: [1, 'two', null] };
      const kept = await json<{ id: number }>(['append', 'The user prefers dark mode', '--tag', 'ui', '--namespace', 'prefs', '--meta', JSON.stringify(meta)]);
      const gone = await json<{ id: number }>(['append', 'deleted before the export']);
      await run(['delete', String(gone.id)]);
      await run(['append', '日本語のメモ 😀', '--ttl', '3600000']);
      await run(['kv', 'set', 'blob', '{"$base64":"AP8Q"}']);
      await run(['kv', 'set', 'session', '{"turn":3,"odd":{"$object":{"$number":"NaN"}}}']);
      await run(['state', 'set', '{"status":"running","extra":{"task":"triage"}}']);
      const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 10]);
      await writeFile(join(paths.dir, 'chunk.bin'), binary);
      await run(['stream', 'append', 'transcript', '-'], { stdin: 'first chunk;' });
      await run(['stream', 'append', 'transcript', join(paths.dir, 'chunk.bin')]);
      await run(['stream', 'append', 'deleted', '-'], { stdin: 'gone' });
      await run(['stream', 'delete', 'deleted']);

      const file = join(paths.dir, 'backup.jsonl');
      const exported = await json<{ file: string; memories: number; kvKeys: number; streams: number }>(['export', file]);
      expect(exported).toEqual({ file, memories: 2, kvKeys: 2, streams: 1 });
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((line) => line.type)).toEqual(['header', 'memory', 'memory', 'kv', 'kv', 'stream', 'stream', 'state']);
      // One line per chunk as appended, its bytes in base64.
      expect(lines.slice(5, 7)).toEqual([{ type: 'stream', key: 'transcript', base64: Buffer.from('first chunk;').toString('base64') }, { type: 'stream', key: 'transcript', base64: binary.toString('base64') }]);
      // (An object of one `$` key is wrapped, so that it never reads as bytes or a special number.)
      const taggedMeta = { ...meta, nested: { $object: { $ref: 'not a tag' } } };
      expect(lines[1]).toMatchObject({ id: kept.id, text: 'The user prefers dark mode', tags: ['ui'], namespace: 'prefs', meta: taggedMeta, createdAt: expect.any(Number), updatedAt: expect.any(Number) });
      expect(lines[2]).toMatchObject({ text: '日本語のメモ 😀', expiresAt: expect.any(Number) });

      // To stdout, the same lines.
      const piped = await run(['export']);
      expect(piped.stdout.split('\n').slice(1)).toEqual((await readFile(file, 'utf8')).split('\n').slice(1));

      const other = join(paths.dir, 'other');
      expect((await memmapfs(['--root', other, 'init'])).code).toBe(0);
      const imported = await memmapfs(['--root', other, '--json', 'import', file]);
      expect(imported).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(imported.stdout)).toMatchObject({ imported: 2, kvKeys: 2, streams: 1, state: true, expired: 0 });
      expect((await memmapfs(['--root', other, 'stream', 'read', 'transcript'])).stdoutBytes).toEqual(Buffer.concat([Buffer.from('first chunk;'), binary]));
      expect((await memmapfs(['--root', other, 'stream', 'list'])).stdout).toBe('transcript\n');

      const again = await memmapfs(['--root', other, 'export']);
      const strip = (line: Record<string, unknown>) => {
        const { id: _id, createdAt: _c, updatedAt: _u, expiresAt, exportedAt: _e, ...rest } = line;
        return { ...rest, ...(typeof expiresAt === 'number' ? { expires: true } : {}) };
      };
      const reexported = again.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(reexported.map(strip)).toEqual(lines.map(strip));
      expect(Math.abs((reexported[2]!.expiresAt as number) - (lines[2]!.expiresAt as number))).toBeLessThan(60_000);
      expect(await memmapfs(['--root', other, '--json', 'kv', 'get', 'session']).then((r) => JSON.parse(r.stdout))).toEqual({ key: 'session', value: { turn: 3, odd: { $object: { $number: 'NaN' } } } });
      expect(await memmapfs(['--root', other, '--json', 'state', 'get']).then((r) => JSON.parse(r.stdout) as AgentState)).toMatchObject({ status: 'running', extra: { task: 'triage' } });
    }, slow);

    it('round-trips a store losslessly, ids, times, expiries and embeddings included: export, import into a fresh store, export again gives the same file', async () => {
      // Written through the library: the command line gives no embeddings.
      const source = await MemMapFS.init(paths.root, { search: orama({ vectors: { dimensions: 3 } }) });
      const ids: number[] = [];
      ids.push(await source.appendMemory('kept as it was', ['a', 'b'], { namespace: 'team/alpha', meta: { source: 'chat', nested: { $ref: 'x' }, list: [1, null] } }));
      ids.push(await source.appendMemory('deleted before the export'));
      ids.push(await source.appendMemory('updated later', ['u'], { embedding: [0.1, -0.2, 0.3] }));
      await source.setKv('session', { turn: 3, bytes: new Uint8Array([0, 255]) });
      ids.push(await source.appendMemory('expires tomorrow', [], { ttlMs: 24 * 60 * 60 * 1000, embedding: new Float32Array([1 / 3, 2, -7.5]) }));
      await source.deleteMemory(ids[1]!);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await source.updateMemory(ids[2]!, { text: 'updated', meta: { v: 2 } });
      await source.setKv('gone', 1);
      await source.deleteKv('gone');
      ids.push(...(await source.appendMemories([{ text: 'the last one', namespace: ['team', 'beta'] }])));
      await source.updateState({ status: 'running', activeMemoryCount: 4, lastUpdatedId: ids[4]!, extra: { task: 'triage' } });
      await source.close();

      const first = join(paths.dir, 'first.jsonl');
      expect((await run(['export', first])).code).toBe(0);
      const lines = (await readFile(first, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.filter((line) => line.type === 'memory').map((line) => line.id)).toEqual([ids[0], ids[2], ids[3], ids[4]]);
      expect(lines.find((line) => line.id === ids[3])).toMatchObject({ expiresAt: expect.any(Number), embedding: [expect.closeTo(1 / 3, 6), 2, -7.5] });
      expect(lines.find((line) => line.id === ids[2])).toMatchObject({ text: 'updated', embedding: [expect.closeTo(0.1, 6), expect.closeTo(-0.2, 6), expect.closeTo(0.3, 6)] });

      const other = join(paths.dir, 'other');
      expect((await memmapfs(['--root', other, 'init'])).code).toBe(0);
      const imported = await memmapfs(['--root', other, '--json', 'import', first]);
      expect(imported).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(imported.stdout)).toEqual({ imported: 4, firstId: ids[0], lastId: ids[4], kvKeys: 1, streams: 0, state: true, expired: 0, renumbered: 0 });
      const second = join(paths.dir, 'second.jsonl');
      expect((await memmapfs(['--root', other, 'export', second])).code).toBe(0);
      const withoutTime = (text: string) => text.replace(/"exportedAt":\d+/, '"exportedAt":0');
      expect(withoutTime(await readFile(second, 'utf8'))).toBe(withoutTime(await readFile(first, 'utf8')));
      // New memories of the imported store come after every imported id.
      expect((JSON.parse((await memmapfs(['--root', other, '--json', 'append', 'new'])).stdout) as { id: number }).id).toBeGreaterThan(ids[4]!);

      // Into a store whose log is past the first id: new ids, everything else kept; the text output says so.
      const busy = join(paths.dir, 'busy');
      expect((await memmapfs(['--root', busy, 'init'])).code).toBe(0);
      for (const text of ['one', 'two']) expect((await memmapfs(['--root', busy, 'append', text])).code).toBe(0);
      const end = (JSON.parse((await memmapfs(['--root', busy, '--json', 'stats'])).stdout) as { lastLsn: number }).lastLsn;
      const renumbered = await memmapfs(['--root', busy, 'import', first]);
      expect(renumbered).toMatchObject({ code: 0, stderr: '' });
      expect(renumbered.stdout).toBe(`imported 4 memories (ids ${end + 1}–${end + 4}), 1 KV key and the state\n4 memories got new ids: the log of this store is past the ids of the export (--ids keep refuses instead)\nKV values that name memories by id (such as the items of @memmapfs/langgraph's MemMapStore) still name the ids of the export: import into a new, empty store to keep them (--ids keep)\n`);
      const moved = JSON.parse((await memmapfs(['--root', busy, '--json', 'get', String(end + 4)])).stdout) as Memory;
      expect(moved).toMatchObject({ text: 'the last one', namespace: 'team/beta', createdAt: lines.at(-3)!.createdAt });
      const refused = await memmapfs(['--root', busy, 'import', first, '--ids', 'keep']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^memmapfs: line 2: .*id 1 .*; nothing imported\n$/);
      const refusedJson = await memmapfs(['--root', busy, '--json', 'import', first, '--ids', 'keep']);
      expect(JSON.parse(refusedJson.stderr).error.code).toBe('MEMORY_ID_TAKEN');
    }, slow);

    it('gives up the ids of an export far above the log of the store at once (auto), writing each text once, or fails saying why (keep)', async () => {
      const file = join(paths.dir, 'far.jsonl');
      const text = (i: number) => `memory ${i} `.padEnd(4096, 'x');
      const lines = [{ type: 'header', format: 'memmapfs-export', version: 1 }, ...Array.from({ length: 40 }, (_, i) => ({ type: 'memory', id: 5_000_000 + i * 3, text: text(i), tags: [], namespace: 'default', meta: {}, createdAt: 1_700_000_000_000 + i, updatedAt: 1_700_000_000_000 + i }))];
      await writeFile(file, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
      const far = join(paths.dir, 'far');
      expect((await memmapfs(['--root', far, 'init'])).code).toBe(0);
      const auto = await memmapfs(['--root', far, 'import', file, '--batch', '16']);
      expect(auto).toMatchObject({ code: 0, stderr: '' });
      expect(auto.stdout).toBe('imported 40 memories (ids 1–40)\n40 memories got new ids: the ids of the export are too far above the end of the log of this store to fill the log up to them (--ids keep refuses instead)\n');
      const stats = JSON.parse((await memmapfs(['--root', far, '--json', 'stats'])).stdout) as { lastLsn: number; blockBytes: number };
      expect(stats.lastLsn).toBeLessThan(50);
      // Each text written once: no block left behind by a refused call.
      expect(stats.blockBytes).toBeLessThan(40 * 4096 * 1.2);

      const fresh = join(paths.dir, 'fresh');
      expect((await memmapfs(['--root', fresh, 'init'])).code).toBe(0);
      const keep = await memmapfs(['--root', fresh, 'import', file, '--ids', 'keep']);
      expect(keep.code).toBe(1);
      expect(keep.stderr).toMatch(/^memmapfs: line 2: .*id 5000000 is 5000000 above the last record of the log \(0\).*--ids new.*; nothing imported\n$/);
      expect(JSON.parse((await memmapfs(['--root', fresh, '--json', 'import', file, '--ids', 'keep'])).stderr).error.code).toBe('RESTORE_GAP_TOO_LARGE');
      expect((JSON.parse((await memmapfs(['--root', fresh, '--json', 'stats'])).stdout) as { blockBytes: number }).blockBytes).toBe(0);
    }, slow);

    it('counts the memories an export wrote before its ids could not be kept (--ids keep), and says from which line to go on', async () => {
      const file = join(paths.dir, 'gap.jsonl');
      const ids = [1, 50, 100_000_000, 100_000_001];
      await writeFile(file, `${ids.map((id, i) => JSON.stringify({ type: 'memory', id, text: `memory ${i}` })).join('\n')}\n`);
      const gap = join(paths.dir, 'gap');
      expect((await memmapfs(['--root', gap, 'init'])).code).toBe(0);
      const keep = await memmapfs(['--root', gap, '--json', 'import', file, '--ids', 'keep']);
      expect(keep.code).toBe(1);
      expect(JSON.parse(keep.stdout)).toMatchObject({ imported: 2, firstId: 1, lastId: 50 });
      expect((await memmapfs(['--root', join(paths.dir, 'gap-human'), 'init'])).code).toBe(0);
      const human = await memmapfs(['--root', join(paths.dir, 'gap-human'), 'import', file, '--ids', 'keep']);
      expect(human.stderr).toMatch(/line 3: .*; imported 2 memories \(input lines 1–2\) before it\n$/);
      expect(JSON.parse((await memmapfs(['--root', gap, '--json', 'list'])).stdout).memories.map((m: { id: number }) => m.id)).toEqual([1, 50]);
    }, slow);

    it('refuses an export of another version, and lines of an unknown type, before writing them (exit 1)', async () => {
      const file = join(paths.dir, 'future.jsonl');
      await writeFile(file, `${JSON.stringify({ type: 'header', format: 'memmapfs-export', version: 99 })}\n`);
      const future = await run(['import', file]);
      expect(future.code).toBe(1);
      expect(future.stderr).toMatch(/line 1: not an export this version reads/);
      const odd = await run(['import'], { stdin: `${JSON.stringify({ type: 'memory', text: 'ok' })}\n${JSON.stringify({ type: 'blob' })}\n` });
      expect(odd.code).toBe(1);
      expect(odd.stderr).toMatch(/line 2: unknown "type" "blob"/);
      const badChunk = await run(['import'], { stdin: `${JSON.stringify({ type: 'stream', key: 's', base64: 'not base64!' })}\n` });
      expect(badChunk.code).toBe(1);
      expect(badChunk.stderr).toMatch(/line 1: "base64" must be .*base64/);
      expect((await run(['stream', 'list'])).stdout).toBe('');
    });
  });

  describe('help', () => {
    it('shows the general help for no arguments and for help, and a command\'s for help COMMAND', async () => {
      const none = await memmapfs([]);
      expect(none).toMatchObject({ code: 0, stderr: '' });
      expect(none.stdout).toMatch(/^memmapfs: /);
      expect((await memmapfs(['help'])).stdout).toBe(none.stdout);
      for (const command of ['update ID', 'list', 'kv get KEY', 'kv set KEY VALUE', 'kv delete KEY', 'kv list', 'stream append KEY [FILE]', 'stream read KEY', 'export [FILE]', 'help [COMMAND...]']) {
        expect(none.stdout).toMatch(new RegExp(`^  ${command.replace(/[[\].]/g, '\\$&')} `, 'm'));
      }
      const viaHelp = await memmapfs(['help', 'kv', 'set']);
      expect(viaHelp).toMatchObject({ code: 0, stderr: '' });
      expect(viaHelp.stdout).toBe((await memmapfs(['kv', 'set', '--help'])).stdout);
      expect((await memmapfs(['help', 'kv'])).stdout).toContain('Usage: memmapfs kv list');
    }, slow);

    it('gives every command examples in its help', async () => {
      const general = (await memmapfs(['--help'])).stdout;
      const commands = [...general.matchAll(/^ {2}([a-z]+(?: [a-z]+)?)(?= )/gm)].map((match) => match[1]!).filter((name) => !name.startsWith('-'));
      const names = commands.map((name) => (/^(kv|stream|state) /.test(name) ? name : name.split(' ')[0]!));
      expect(names.length).toBeGreaterThanOrEqual(25);
      const helps: ProcessRun[] = [];
      for (let i = 0; i < names.length; i += 8) helps.push(...(await Promise.all(names.slice(i, i + 8).map((name) => memmapfs([...name.split(' '), '--help'])))));
      for (const [i, help] of helps.entries()) {
        expect(help.code, names[i]).toBe(0);
        const examples = help.stdout.split('\nExamples:\n')[1];
        expect(examples, `${names[i]} has examples`).toBeDefined();
        expect(examples!.split('\n')[0], names[i]).toMatch(/^ {2}(\S+ \| )?.*memmapfs /);
      }
    }, slow);

    it('suggests the closest command or option for a mistyped one', async () => {
      await expectUsageError(['stast'], /unknown command 'stast'; did you mean 'stats'\?/);
      await expectUsageError(['exprot', 'x.jsonl'], /did you mean 'export'\?/);
      await expectUsageError(['kv', 'lst'], /unknown command 'kv lst'; did you mean 'kv list'\?/);
      await expectUsageError(['query', 'x', '--limt', '3'], /Unknown option '--limt'; did you mean '--limit'\?/);
      await expectUsageError(['help', 'updte'], /did you mean 'update'\?/);
      await expectUsageError(['frobnicate'], /^memmapfs: unknown command 'frobnicate' \(run 'memmapfs --help' for usage\)\n$/);
    }, slow);
  });

  describe('--json', () => {
    beforeEach(init);

    it('prints one JSON value on stdout for every command', async () => {
      const { id } = await json<{ id: number }>(['append', 'first memory']);
      await json(['kv', 'set', 'k', '1']);
      await json(['stream', 'append', 'log'], { stdin: 'bytes' });
      const cases: string[][] = [
        ['init'], ['query', 'first'], ['list'], ['get', String(id)], ['update', String(id), '--tag', 't'], ['history', String(id)],
        ['kv', 'get', 'k'], ['kv', 'list'], ['stream', 'read', 'log'], ['state', 'get'], ['state', 'set', '{"status":"busy"}'], ['stats'],
        ['export', join(paths.dir, 'e.jsonl')], ['import', join(paths.dir, 'e.jsonl')], ['compact'], ['verify'], ['kv', 'delete', 'k'], ['delete', String(id)],
      ];
      for (const args of cases) await json(args);
      const page = await json<MemoryPage>(['list']);
      expect(page.memories.length).toBeGreaterThan(0);
    }, slow);
  });

  describe('output width', () => {
    beforeEach(init);

    it('cuts listed text to 100 display columns when piped, counting CJK characters and emoji as two', async () => {
      const text = `${'日本語の長いメモ😀'.repeat(30)}`;
      await run(['append', text, '--tag', 'wide']);
      for (const args of [['list'], ['query', '']]) {
        const line = (await run(args)).stdout.trimEnd();
        const shown = line.slice(line.indexOf('[wide]  ') + '[wide]  '.length);
        expect(shown.endsWith('…')).toBe(true);
        expect(stringWidth(shown)).toBeLessThanOrEqual(100);
        expect(stringWidth(shown)).toBeGreaterThanOrEqual(98);
        expect(shown).not.toContain('\uFFFD');
      }
    });
  });

  describe('a damaged log', () => {
    beforeEach(init);

    it("tells the user to run 'memmapfs verify' and 'memmapfs repair' on WAL_CORRUPT", async () => {
      for (let i = 0; i < 10; i++) await run(['append', `memory number ${i} about tea`]);
      const wal = join(paths.root, 'state.wal');
      const bytes = await readFile(wal);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      await writeFile(wal, bytes);
      const result = await run(['stats']);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^memmapfs: .*Run 'memmapfs verify' to see the damage, then 'memmapfs repair' .*\(WAL_CORRUPT\)\n$/);
      expect(JSON.parse((await run(['--json', 'get', '1'])).stderr)).toMatchObject({ error: { code: 'WAL_CORRUPT', message: expect.stringContaining("'memmapfs repair'") } });
    }, slow);

    it("tells the user to run 'memmapfs verify' and 'memmapfs repair' on a damaged block", async () => {
      await run(['append', 'the parcel arrives on tuesday']);
      const blocks = join(paths.root, 'blocks');
      const chunk = join(blocks, (await readdir(blocks)).find((name) => name.startsWith('chunk_'))!);
      const bytes = await readFile(chunk);
      bytes[bytes.indexOf('parcel')]! ^= 0x20;
      await writeFile(chunk, bytes);
      const result = await run(['get', '1']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^memmapfs: .*'memmapfs verify'.*'memmapfs repair'.*\(BLOCK_CORRUPT\)\n$/);
    }, slow);
  });

  describe('the search index', () => {
    beforeEach(init);

    /** The saved search index: written when a process that loaded the index closes. */
    const snapshot = async (): Promise<string | undefined> => {
      const file = join(paths.root, 'index', 'search.snapshot');
      return existsSync(file) ? (await readFile(file)).toString('base64') : undefined;
    };

    it('is not loaded by get, state, kv, stats, list, update or export; query loads it', async () => {
      const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ text: `memory ${i} about tea` }));
      await run(['import'], { stdin: `${lines.join('\n')}\n` });
      await run(['kv', 'set', 'k', '1']);
      const before = await snapshot();
      for (const args of [['get', '5'], ['state', 'get'], ['state', 'set', '{"status":"x"}'], ['kv', 'get', 'k'], ['kv', 'list'], ['kv', 'set', 'j', '2'], ['stats'], ['list'], ['update', '5', '--tag', 't'], ['export']]) {
        expect((await run(args)).code, args.join(' ')).toBe(0);
        expect(await snapshot(), `${args.join(' ')} loaded the search index`).toBe(before);
      }
      // A query loads it (and rebuilds it from the log, since no saved index covers the import):
      // closing then saves it, which is how the commands above would have shown that they loaded it.
      expect((await run(['query', 'tea'])).code).toBe(0);
      expect(await snapshot()).not.toBe(before);
    }, slow);
  });

  describe('progress', () => {
    beforeEach(init);

    it('writes no progress when stderr is not a terminal', async () => {
      const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ text: `memory ${i}` }));
      const file = join(paths.dir, 'many.jsonl');
      await writeFile(file, `${lines.join('\n')}\n`);
      for (const args of [['import', file], ['export', join(paths.dir, 'out.jsonl')], ['compact'], ['verify']]) {
        const result = await run(args);
        expect(result, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      }
    }, slow);
  });
});
