import { existsSync } from 'node:fs';
import { chmod, lstat, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Memory, MemoryHit } from '@memmapfs/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { initStore, inStore, memoryCount, paths, stdinOf, useTempStore } from './harness.js';
import { runCli } from '../src/index.js';
import { binaryCommand, binaryEnvironment } from './binary.js';

useTempStore();

async function writeLines(name: string, lines: readonly string[]): Promise<string> {
  const file = join(paths.dir, name);
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

/** `import --json` output, with something imported. */
interface ImportResult {
  imported: number;
  firstId: number;
  lastId: number;
}

const get = async (id: number): Promise<Memory> => JSON.parse((await inStore(['get', String(id), '--json'])).stdout) as Memory;

describe('import', () => {
  beforeEach(() => initStore());

  it('imports a JSONL file of 2500 memories in batches, with the tags of the line and of --tag', async () => {
    const items = Array.from({ length: 2500 }, (_, i) => (i % 5 === 4 ? JSON.stringify(`plain string memory ${i}`) : JSON.stringify({ text: `memory ${i} about tea`, tags: [`n${i % 3}`] })));
    items[1234] = JSON.stringify({ text: 'The kettle whistles at dawn', tags: ['kitchen'] });
    const file = await writeLines('memories.jsonl', items);

    const run = await inStore(['import', file, '--tag', 'imported'], { stderrIsTTY: true });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('imported 2500 memories (ids 1–2500)\n');
    // A progress bar on the terminal stderr: by the bytes of the file, with a rate and the time left.
    expect(run.stderr).toMatch(/import \[[█░]+\] \d+% \| \d+\/\d+ KiB \| \d+\/s \| ETA \S+/);
    expect(await memoryCount()).toBe(2500);

    const hits = JSON.parse((await inStore(['query', 'kettle', '--json'])).stdout) as MemoryHit[];
    expect(hits.map((hit) => [hit.id, hit.text, hit.tags])).toEqual([[1235, 'The kettle whistles at dawn', ['kitchen', 'imported']]]);
    expect(await get(2500)).toMatchObject({ text: 'plain string memory 2499', tags: ['imported'], namespace: 'default' });
    const tagged = JSON.parse((await inStore(['query', 'tea', '--tag', 'n2', '--tag', 'imported', '--json', '--limit', '5'])).stdout) as MemoryHit[];
    expect(tagged).toHaveLength(5);
    for (const hit of tagged) expect(hit.tags).toEqual(['n2', 'imported']);
  });

  it('prints {"imported","firstId","lastId"} under --json, and keeps meta, ttlMs and namespace', async () => {
    const existing = (JSON.parse((await inStore(['--json', 'append', 'already here'])).stdout) as { id: number }).id;
    const file = await writeLines('items.jsonl', [
      JSON.stringify({ text: 'with meta', meta: { source: 'wiki' }, namespace: 'docs' }),
      JSON.stringify({ text: 'short-lived', ttlMs: 60_000, tags: ['x', 'y'] }),
    ]);
    const run = await inStore(['--json', 'import', file, '--tag', 'y']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const result = JSON.parse(run.stdout) as ImportResult;
    expect(result).toEqual({ imported: 2, firstId: expect.any(Number), lastId: result.firstId + 1, kvKeys: 0, streams: 0, state: false, expired: 0, renumbered: 0 });
    expect(result.firstId).toBeGreaterThan(existing);
    expect(await get(result.firstId)).toMatchObject({ text: 'with meta', meta: { source: 'wiki' }, namespace: 'docs', tags: ['y'] });
    const shortLived = await get(result.lastId);
    expect(shortLived.tags).toEqual(['x', 'y']);
    expect(shortLived.expiresAt! - shortLived.createdAt).toBe(60_000);

    const renamed = await writeLines('renamed.jsonl', [JSON.stringify({ text: 'moved', namespace: 'docs' })]);
    const moved = await inStore(['import', renamed, '--namespace', 'archive']);
    const id = Number(/^imported 1 memory \(id (\d+)\)\n$/.exec(moved.stdout)?.[1]);
    expect(id).toBeGreaterThan(result.lastId);
    expect((await get(id)).namespace).toBe('archive');
  });

  it("reads a line's meta as tagged JSON, as --meta and export lines are read: bytes, NaN and $-keys come back as append --meta stores them", async () => {
    const meta = { blob: { $base64: 'AAE=' }, ratio: { $number: 'NaN' }, literal: { $object: { $base64: 'not bytes' } } };
    const file = await writeLines('tagged.jsonl', [JSON.stringify({ text: 'from a line', meta })]);
    const imported = JSON.parse((await inStore(['--json', 'import', file])).stdout) as ImportResult;
    const appended = (JSON.parse((await inStore(['--json', 'append', 'from append', '--meta', JSON.stringify(meta)])).stdout) as { id: number }).id;
    expect((await get(imported.firstId)).meta).toEqual(meta);
    expect((await get(imported.firstId)).meta).toEqual((await get(appended)).meta);
  });

  it('reads --format lines from stdin, skipping blank lines, with --namespace and --tag on every memory', async () => {
    const stdin = 'first line of text\r\n\r\n  \nsecond line\nthird line without newline';
    const results: ImportResult[] = [];
    for (const args of [['import'], ['import', '-']]) {
      const run = await inStore([...args, '--format', 'lines', '--namespace', 'notes', '--tag', 'stdin', '--json'], { stdin });
      expect(run).toMatchObject({ code: 0, stderr: '' });
      results.push(JSON.parse(run.stdout) as ImportResult);
    }
    expect(results.map((result) => [result.imported, result.lastId - result.firstId])).toEqual([[3, 2], [3, 2]]);
    expect(await memoryCount()).toBe(6);
    expect(await get(results[0]!.firstId)).toMatchObject({ text: 'first line of text', namespace: 'notes', tags: ['stdin'] });
    expect(await get(results[0]!.lastId)).toMatchObject({ text: 'third line without newline' });
    const hits = JSON.parse((await inStore(['query', 'second', '--namespace', 'notes', '--json'])).stdout) as MemoryHit[];
    expect(hits.map((hit) => hit.id).sort((a, b) => a - b)).toEqual(results.map((result) => result.firstId + 1));
  });

  it('ends a line at a newline only: a lone carriage return stays in the text, and line numbers count newlines', async () => {
    const run = await inStore(['import', '--format', 'lines', '--json'], { stdin: 'note one\rstill note one\r\nnote two\nlast, without a newline\r' });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const result = JSON.parse(run.stdout) as ImportResult;
    expect(result.imported).toBe(3);
    expect((await get(result.firstId)).text).toBe('note one\rstill note one');
    expect((await get(result.firstId + 1)).text).toBe('note two');
    expect((await get(result.lastId)).text).toBe('last, without a newline\r');
    // (A carriage return is whitespace to JSON: the object on line 1 is whole.)
    const bad = await inStore(['import'], { stdin: '{"text": "a",\r"tags": []}\n"c"\nbad\n"d"\n' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^memmapfs: line 3: not valid JSON/);
  });

  it('refuses {"$base64": …} that is not base64, in a line\'s meta and a KV value, rather than store other bytes', async () => {
    const line = await inStore(['import'], { stdin: `${JSON.stringify({ text: 'x', meta: { sig: { $base64: 'not base64 at all' } } })}\n` });
    expect(line.code).toBe(1);
    expect(line.stderr).toMatch(/^memmapfs: line 1: .*meta\.sig.*is not base64/);
    expect(await memoryCount()).toBe(0);
    const kv = await inStore(['kv', 'set', 'j', '{"$base64":"!!!"}']);
    expect(kv.code).toBe(2);
    expect(kv.stderr).toMatch(/is not base64/);
    const meta = await inStore(['append', 'text', '--meta', '{"sig":{"$base64":"AAE"}}']);
    expect(meta.code).toBe(2);
    expect(meta.stderr).toMatch(/--meta.*sig.*is not base64/);
    expect((await inStore(['kv', 'get', 'j'])).code).toBe(1);
    expect(await memoryCount()).toBe(0);
  });

  it('refuses an export\'s memory line whose id is not a positive integer, with the default --ids auto too, and a number too large for a number (it read as Infinity)', async () => {
    for (const id of [-3, 0, 1.5]) {
      const run = await inStore(['import'], { stdin: `${JSON.stringify({ type: 'memory', id, text: 'a' })}\n` });
      expect(run.code, String(id)).toBe(1);
      expect(run.stderr, String(id)).toMatch(/^memmapfs: line 1: "id" must be a positive integer/);
    }
    const huge = await inStore(['import'], { stdin: '{"type":"kv","key":"a","value":1e400}\n' });
    expect(huge.code).toBe(1);
    expect(huge.stderr).toMatch(/^memmapfs: line 1: .*too large for a number/);
    expect(await memoryCount()).toBe(0);
    expect((await inStore(['kv', 'get', 'a'])).code).toBe(1);
  });

  it('takes a JSON line that is not an object as text in --format lines', async () => {
    const run = await inStore(['import', '--format', 'lines', '--json'], { stdin: ['{"text": "kept as it is"}'] });
    expect(run.code).toBe(0);
    expect((await get((JSON.parse(run.stdout) as ImportResult).firstId)).text).toBe('{"text": "kept as it is"}');
  });

  it.runIf(existsSync('/proc/self/cmdline'))('refuses an argument that is not valid UTF-8 (a shell in another encoding), rather than store replacement characters', async () => {
    await initStore();
    // (Through a shell: Node passes every argument it is given as UTF-8.)
    const shell = (args: string) => spawnSync('sh', ['-c', `exec "$0" "$@" ${args}`, process.execPath, ...binaryCommand()], { env: binaryEnvironment({ MEMMAPFS_ROOT: paths.root }), encoding: 'utf8' });
    // (A lone Latin-1 byte, a byte no UTF-8 has, a sequence cut short, an overlong form.)
    for (const args of ['append "$(printf \'caf\\351\')"', 'kv set "$(printf \'k\\377\')" value --string', 'kv set key "$(printf \'caf\\351\')" --string', 'append "$(printf \'abc\\342\\202\')"', 'append "$(printf \'abc\\300\\257\')"']) {
      const run = shell(args);
      expect(run.status, args).toBe(1);
      expect(run.stderr, args).toMatch(/^memmapfs: argument \d is not valid UTF-8 \(byte 0x(e9|ff|e2|c0) at offset [13]\)/);
    }
    expect(await memoryCount()).toBe(0);
    expect((await inStore(['kv', 'list', '--json'])).stdout).toBe('[]\n');
    // (A command line that is wrong besides is a usage error first, as any other: exit code 2.)
    for (const args of ['apend "$(printf \'caf\\351\')"', 'append "$(printf \'caf\\351\')" --no-such-option']) {
      const run = shell(args);
      expect(run.status, args).toBe(2);
      expect(run.stderr, args).not.toMatch(/UTF-8/);
    }
    // (Valid UTF-8 is taken as it is, U+FFFD included.)
    expect(shell('append "$(printf \'caf\\303\\251 \\357\\277\\275\')"').status).toBe(0);
    expect((await get(1)).text).toBe('caf\u00e9 \ufffd');
  });

  it('stops at a bad line 3 before writing its batch: nothing with the default batch of 1000', async () => {
    const file = await writeLines('bad.jsonl', ['{"text":"one"}', '"two"', '{"text": oops}', '{"text":"four"}']);
    const run = await inStore(['import', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^memmapfs: line 3: not valid JSON \(.+\); nothing imported\n$/);
    expect(await memoryCount()).toBe(0);
  });

  it('refuses text that is not valid UTF-8, naming the line, rather than store replacement characters: import, and text read from stdin', async () => {
    const file = join(paths.dir, 'latin1.txt');
    await writeFile(file, Buffer.concat([Buffer.from('"a fine line"\n'), Buffer.from([0xff, 0xfe]), Buffer.from(' caf\xe9\n', 'latin1'), Buffer.from('"third"\n')]));
    for (const format of ['lines', 'jsonl']) {
      const run = await inStore(['import', '--format', format, file]);
      expect(run.code, format).toBe(1);
      expect(run.stderr, format).toMatch(/^memmapfs: line 2: not valid UTF-8 .*; nothing imported\n$/);
    }
    expect(await memoryCount()).toBe(0);
    const bytes = Buffer.from([0x61, 0xff, 0x62, 0x0a]);
    for (const args of [['append'], ['kv', 'set', 'k', '-', '--string']]) {
      const run = await inStore(args, { stdin: bytes });
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(/stdin is not valid UTF-8/);
    }
    expect(await memoryCount()).toBe(0);
    expect((await inStore(['kv', 'get', 'k'])).code).not.toBe(0);
    // (Valid UTF-8 is taken as it is, U+FFFD included.)
    expect((await inStore(['append'], { stdin: Buffer.from('caf\u00e9 \ufffd\n') })).code).toBe(0);
    expect((await get(1)).text).toBe('caf\u00e9 \ufffd');
  });

  it('stops at a bad line 3 before writing its batch: the 2 memories of the batch before it with --batch 2', async () => {
    const file = await writeLines('bad.jsonl', ['{"text":"one"}', '', '"two"', '{"text": oops}', '{"text":"four"}']);
    const run = await inStore(['import', file, '--batch', '2']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^memmapfs: line 4: not valid JSON \(.+\); imported 2 memories \(input lines 1–3\) before it\n$/);
    expect(await memoryCount()).toBe(2);

    const json = await inStore(['import', file, '--batch', '2', '--json']);
    expect(json.code).toBe(1);
    const partial = JSON.parse(json.stdout) as ImportResult;
    expect(partial).toEqual({ imported: 2, firstId: expect.any(Number), lastId: partial.firstId + 1, kvKeys: 0, streams: 0, state: false, expired: 0, renumbered: 0 });
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'INVALID_INPUT', message: expect.stringMatching(/^line 4: not valid JSON/) } });
    expect(await memoryCount()).toBe(4);
  });

  it.each([
    ['an array', '[1,2]', 'expected a JSON object {"text": …} or a JSON string, got an array'],
    ['null', 'null', 'got null'],
    ['an unknown field', '{"text":"x","tag":"oops"}', 'unknown field "tag"'],
    ['no text', '{"tags":["a"]}', '"text" must be a string, got none'],
    ['tags that are not an array', '{"text":"x","tags":"a"}', '"tags" must be an array of strings'],
    ['meta that is not an object', '{"text":"x","meta":[1]}', '"meta" must be a JSON object'],
    ['an empty text (refused by the store)', '{"text":"   "}', 'text must not be empty'],
    ['a negative ttlMs (refused by the store)', '{"text":"x","ttlMs":-5}', 'ttlMs must be a positive number'],
  ])('names the line of %s', async (_case, bad, message) => {
    const run = await inStore(['import', '--batch', '2'], { stdin: ['"fine"', '"also fine"', '"third"', bad] });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^memmapfs: line 4: /);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('; imported 2 memories (input lines 1–2) before it\n');
    expect(await memoryCount()).toBe(2);
  });

  it('imports nothing from empty input', async () => {
    expect(await inStore(['import'], { stdin: '\n\n' })).toEqual({ code: 0, stdout: 'imported 0 memories\n', stderr: '' });
    expect(JSON.parse((await inStore(['import', '--json'], { stdin: '' })).stdout)).toEqual({ imported: 0, firstId: null, lastId: null, kvKeys: 0, streams: 0, state: false, expired: 0, renumbered: 0 });
  });

  it('resolves FILE against the working folder, and fails with exit code 1 when it cannot be read', async () => {
    await writeLines('relative.jsonl', ['"from a relative path"']);
    const relative = await inStore(['import', 'relative.jsonl', '--json'], { cwd: paths.dir });
    expect(relative.code).toBe(0);
    expect((await get((JSON.parse(relative.stdout) as ImportResult).firstId)).text).toBe('from a relative path');

    const missing = await inStore(['import', 'nope.jsonl', '--json'], { cwd: paths.dir });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr).error.code).toBe('INPUT_UNREADABLE');
    expect(JSON.parse(missing.stderr).error.message).toContain('nope.jsonl');

    const folder = await inStore(['import', paths.dir]);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/^memmapfs: cannot read .*EISDIR/);
  });

  it.each([
    ['an unknown format', ['--format', 'csv'], "--format must be jsonl or lines, got 'csv'"],
    ['a batch of 0', ['--batch', '0'], "--batch must be a positive integer, got '0'"],
    ['an empty tag', ['--tag', ''], '--tag must not be empty'],
    ['two files', ['a.jsonl', 'b.jsonl'], "unexpected argument 'b.jsonl'"],
  ])('exits with 2 for %s', async (_case, args, message) => {
    const run = await inStore(['import', ...args], { stdin: ['"never read"'] });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain("(run 'memmapfs import --help' for usage)");
    expect(await memoryCount()).toBe(0);
  });
});

describe('import without a store', () => {
  it('fails with STORE_NOT_FOUND, like append, and creates nothing', async () => {
    const run = await inStore(['import'], { stdin: ['"text"'] });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\(STORE_NOT_FOUND\)\n$/);
    expect(existsSync(paths.root)).toBe(false);
  });
});

describe('export progress', () => {
  beforeEach(() => initStore());

  it('shows a bar with the total, a rate and the time left on a terminal stderr, and none with --json', async () => {
    expect((await inStore(['import', '--format', 'lines'], { stdin: Array.from({ length: 1500 }, (_, i) => `memory ${i}`) })).code).toBe(0);
    const file = join(paths.dir, 'out.jsonl');
    const run = await inStore(['export', file], { stderrIsTTY: true });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/export \[[█░]+\] \d+% \| \d+\/1500 entries \| \d+\/s \| ETA \S+/);
    expect((await inStore(['--json', 'export', file], { stderrIsTTY: true })).stderr).toBe('');
  });
});

describe('export to a file', () => {
  beforeEach(async () => {
    await initStore();
    expect((await inStore(['append', 'a memory to export'])).code).toBe(0);
  });

  const exportedLines = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line) as { type: string; text?: string });

  it('writes through a symbolic link to the file it names, the link left a link', async () => {
    const real = join(paths.dir, 'real.jsonl');
    const link = join(paths.dir, 'link.jsonl');
    await writeFile(real, 'old\n');
    await symlink(real, link);
    expect((await inStore(['export', link])).code).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(exportedLines(await readFile(real, 'utf8')).some((line) => line.text === 'a memory to export')).toBe(true);
  });

  it('keeps the permissions of the file it replaces (one only its owner reads stays so)', async () => {
    const file = join(paths.dir, 'private.jsonl');
    await writeFile(file, 'old\n', { mode: 0o600 });
    await chmod(file, 0o600);
    expect((await inStore(['export', file])).code).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(exportedLines(await readFile(file, 'utf8')).some((line) => line.text === 'a memory to export')).toBe(true);
  });

  it.skipIf(process.platform === 'win32')('writes into a named pipe, which stays a pipe', async () => {
    const fifo = join(paths.dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = readFile(fifo, 'utf8');
    expect((await inStore(['export', fifo])).code).toBe(0);
    expect(exportedLines(await reader).some((line) => line.text === 'a memory to export')).toBe(true);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it('stopped (Ctrl-C) part way, leaves no partial copy of the memories and the file as it was, and says so', async () => {
    expect((await inStore(['import', '--format', 'lines'], { stdin: Array.from({ length: 3000 }, (_, i) => `memory ${i}`) })).code).toBe(0);
    const file = join(paths.dir, 'out.jsonl');
    await writeFile(file, 'the previous export\n');
    const stop = new AbortController();
    let stdout = '';
    let stderr = '';
    const io = {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      // (The progress bar's first drawing: the export is under way.)
      stderr: { write: (chunk: string) => ((stderr += chunk), stop.abort()), isTTY: true },
      env: {},
      stdin: stdinOf(''),
      signal: stop.signal,
    };
    const code = await runCli(['--root', paths.root, 'export', file], io);
    expect(code).toBe(1);
    expect(stderr).toMatch(/the export was stopped before it was complete; .*out.jsonl was left as it was/);
    expect(await readFile(file, 'utf8')).toBe('the previous export\n');
    expect((await readdir(paths.dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
