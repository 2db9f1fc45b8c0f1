import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MemMapFS, type AgentState, type Memory, type MemoryHit, type StoreStats } from '@memmapfs/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../src/index.js';
import { binaryCommand, binaryEnvironment, binaryKind, memmapfs as runBinary } from './binary.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Terminal {
  columns: number;
}

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memmapfs-cli-'));
  root = join(dir, 'store');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in this process, capturing what it writes. */
async function cli(args: string[], options: { env?: CliIo['env']; cwd?: string; terminal?: Terminal } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk), ...(options.terminal ? { isTTY: true, columns: options.terminal.columns } : {}) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: options.env ?? {},
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

/** Runs the CLI against the test's store, which `init` created. */
async function inStore(...args: string[]): Promise<Run> {
  return cli(['--root', root, ...args]);
}

async function initStore(...globals: string[]): Promise<void> {
  const run = await cli(['--root', root, ...globals, 'init']);
  expect(run).toMatchObject({ code: 0, stderr: '' });
}

describe('append and query', () => {
  beforeEach(() => initStore());

  it('finds an appended memory by text and tag, and leaves out memories without the tag', async () => {
    const first = await inStore('append', 'The user prefers dark mode', '--tag', 'preference', '--tag', 'ui');
    const second = await inStore('append', 'Dark chocolate is on the shopping list', '--tag', 'shopping');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^\d+\n$/);
    const [firstId, secondId] = [Number(first.stdout), Number(second.stdout)];
    expect(secondId).toBeGreaterThan(firstId);

    const tagged = await inStore('query', 'dark', '--tag', 'preference');
    expect(tagged.code).toBe(0);
    const lines = tagged.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^#${firstId} {2}\\d+\\.\\d{3} {2}\\[preference, ui\\] {2}The user prefers dark mode$`));

    const untagged = await inStore('query', 'dark');
    expect(untagged.stdout.trimEnd().split('\n').map((line) => line.split(' ')[0]).sort()).toEqual([`#${firstId}`, `#${secondId}`].sort());
  });

  it('prints JSON that parses: the id of append, the hits of query', async () => {
    const appended = await inStore('--json', 'append', 'Deploys go out on Thursdays', '--tag', 'ops', '--namespace', 'team', '--meta', '{"source":"standup"}');
    expect(JSON.parse(appended.stdout)).toEqual({ id: 1 });

    const queried = await inStore('query', 'deploys', '--json', '--namespace', 'team', '--tag', 'ops');
    const hits = JSON.parse(queried.stdout) as MemoryHit[];
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ id: 1, text: 'Deploys go out on Thursdays', tags: ['ops'], namespace: 'team', meta: { source: 'standup' } });
    expect(hits[0]!.score).toBeGreaterThan(0);

    const otherNamespace = await inStore('query', 'deploys', '--json', '--namespace', 'elsewhere');
    expect(JSON.parse(otherNamespace.stdout)).toEqual([]);
  });

  it('honours --limit and lists the newest memories for an empty query', async () => {
    const ids: number[] = [];
    for (const text of ['alpha note', 'beta note', 'gamma note']) ids.push(Number((await inStore('append', text)).stdout));
    const run = await inStore('query', '', '--limit', '2', '--json');
    expect((JSON.parse(run.stdout) as MemoryHit[]).map((hit) => hit.id)).toEqual([ids[2], ids[1]]);
  });

  it('cuts long texts to 100 characters off a terminal and to the terminal width on one', async () => {
    const text = `${'lorem ipsum '.repeat(20)}\nsecond line`;
    await inStore('append', text, '--tag', 'long');
    const piped = await inStore('query', 'lorem');
    const pipedText = piped.stdout.trimEnd().split('  ').at(-1)!;
    expect([...pipedText]).toHaveLength(100);
    expect(pipedText.endsWith('…')).toBe(true);
    expect(piped.stdout).not.toContain('second line');

    const narrow = await cli(['--root', root, 'query', 'lorem'], { terminal: { columns: 40 } });
    const line = narrow.stdout.trimEnd();
    expect([...line]).toHaveLength(40);
    expect(line.startsWith('#1  ')).toBe(true);
  });

  it('shows control characters in listed texts and tags as escapes, never sends them to the terminal (a text may come from anyone)', async () => {
    await inStore('append', 'evil \u001b]0;pwned\u0007 \u001b[2J text \u009b31m', '--tag', 't\u001b[31m');
    for (const args of [['list'], ['query', 'evil'], ['history', '1']]) {
      const run = await cli(['--root', root, ...args], { terminal: { columns: 200 } });
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout, args.join(' ')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      expect(run.stdout, args.join(' ')).toMatch(/\\(x1b|u001b)\]0;pwned\\(x07|u0007)/);
    }
    // (The text itself, for a pipe or a file, is kept exactly: get prints it as stored.)
    expect(JSON.parse((await inStore('get', '1', '--json')).stdout).text).toBe('evil \u001b]0;pwned\u0007 \u001b[2J text \u009b31m');
  });

  it('keeps a TTL as the expiry time of the memory', async () => {
    const before = Date.now();
    await inStore('append', 'Short-lived reminder', '--ttl', '60000');
    const memory = JSON.parse((await inStore('get', '1', '--json')).stdout) as Memory;
    expect(memory.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(memory.expiresAt! - memory.createdAt).toBe(60_000);
  });
});

describe('get and delete', () => {
  beforeEach(() => initStore());

  it('prints the text and a metadata line, or the memory as JSON', async () => {
    await inStore('append', 'Ship the CLI', '--tag', 'todo', '--meta', '{"priority":1}');
    const human = await inStore('get', '1');
    const [text, metadata] = human.stdout.trimEnd().split('\n');
    expect(text).toBe('Ship the CLI');
    expect(metadata).toMatch(/^#1 {2}namespace default {2}tags \[todo\] {2}created \d{4}-\d\d-\d\dT.*Z {2}meta \{"priority":1\}$/);

    const json = JSON.parse((await inStore('--json', 'get', '1')).stdout) as Memory;
    expect(json).toMatchObject({ id: 1, text: 'Ship the CLI', tags: ['todo'], namespace: 'default', meta: { priority: 1 } });
  });

  it('fails with exit code 1 for an unknown id, and keeps stdout clean', async () => {
    expect(await inStore('get', '42')).toEqual({ code: 1, stdout: '', stderr: 'memmapfs: no memory with id 42\n' });
    const json = await inStore('get', '42', '--json');
    expect(json.code).toBe(1);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'MEMORY_NOT_FOUND', message: 'no memory with id 42' } });
  });

  it('deletes a memory once; the second delete fails with exit code 1', async () => {
    const id = (await inStore('append', 'Temporary note')).stdout.trim();
    expect(await inStore('delete', id)).toEqual({ code: 0, stdout: `deleted memory ${id}\n`, stderr: '' });
    expect((await inStore('get', id)).code).toBe(1);
    expect(await inStore('delete', id)).toEqual({ code: 1, stdout: '', stderr: `memmapfs: no memory with id ${id}\n` });

    const another = (await inStore('append', 'Another note')).stdout.trim();
    expect(JSON.parse((await inStore('--json', 'delete', another)).stdout)).toEqual({ deleted: true });
    const missing = await inStore('--json', 'delete', another);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toEqual({ deleted: false });
  });
});

describe('history', () => {
  beforeEach(() => initStore());

  it("lists a memory's versions, oldest first, as lines and as JSON; none is exit code 1", async () => {
    const id = (await inStore('append', 'first words', '--tag', 'draft')).stdout.trim();
    await inStore('delete', id);
    const human = await inStore('history', id);
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^created  \\d{4}-\\d\\d-\\d\\dT.*Z  lsn ${id}  tags \\[draft\\]  "first words"$`));
    expect(lines[1]).toMatch(/^deleted  \d{4}-.*Z  lsn \d+$/);
    const json = JSON.parse((await inStore('--json', 'history', id)).stdout) as Array<{ event: string; memory?: { text: string } }>;
    expect(json.map((v) => v.event)).toEqual(['created', 'deleted']);
    expect(json[0]!.memory!.text).toBe('first words');
    expect(await inStore('history', '999')).toEqual({ code: 1, stdout: '', stderr: 'memmapfs: no memory with id 999 in the log\n' });
  });
});

describe('state', () => {
  beforeEach(() => initStore());

  it('round-trips through separate invocations, filling missing fields from the current state', async () => {
    const initial = JSON.parse((await inStore('state', 'get', '--json')).stdout) as AgentState;
    expect(initial).toEqual({ status: 'idle', activeMemoryCount: 0, lastUpdatedId: 0, extra: {} });

    const full = { status: 'running', activeMemoryCount: 3, lastUpdatedId: 7, extra: { task: 'summarise' } };
    expect((await inStore('state', 'set', JSON.stringify(full))).code).toBe(0);
    expect(JSON.parse((await inStore('--json', 'state', 'get')).stdout)).toEqual(full);

    const set = await inStore('--json', 'state', 'set', '{"status":"done"}');
    expect(JSON.parse(set.stdout)).toEqual({ ...full, status: 'done' });
    const human = await inStore('state', 'get');
    expect(human.stdout).toBe('status: done\nactiveMemoryCount: 3\nlastUpdatedId: 7\nextra: {"task":"summarise"}\n');
  });

  it('rejects a state the store refuses (exit 1, with the code) and JSON that is not an object (exit 2)', async () => {
    const wrongType = await inStore('state', 'set', '{"status":5}');
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toMatch(/^memmapfs: .*state\.status must be a string.* \(INVALID_ARGUMENT\)\n$/);

    const notObject = await inStore('state', 'set', '[1,2]');
    expect(notObject.code).toBe(2);
    expect(notObject.stderr).toContain("run 'memmapfs state set --help'");
    expect(JSON.parse((await inStore('state', 'get', '--json')).stdout)).toMatchObject({ status: 'idle' });
  });
});

describe('query --whole-words', () => {
  beforeEach(() => initStore());

  it('matches the last word as a whole word only', async () => {
    await inStore('append', 'The user has a cat named Tom');
    await inStore('append', 'catalog of category pages');
    const prefixed = JSON.parse((await inStore('--json', 'query', 'cat')).stdout) as MemoryHit[];
    expect(prefixed.map((hit) => hit.text).sort()).toEqual(['The user has a cat named Tom', 'catalog of category pages']);
    const whole = JSON.parse((await inStore('--json', 'query', 'cat', '--whole-words')).stdout) as MemoryHit[];
    expect(whole.map((hit) => hit.text)).toEqual(['The user has a cat named Tom']);
  });
});

describe('values JSON lacks (bytes, NaN, undefined) in meta and the state', () => {
  beforeEach(() => initStore());

  it('are read from --meta and state set, and printed by --json, as kv writes them ({"$base64"}, {"$number"}, {"$undefined"})', async () => {
    const meta = { blob: { $base64: 'AAEC' }, ratio: { $number: 'NaN' }, gone: { $undefined: true }, plain: [1, 'two'] };
    const { id } = JSON.parse((await inStore('--json', 'append', 'a memory with bytes in its meta', '--meta', JSON.stringify(meta))).stdout) as { id: number };
    const got = JSON.parse((await inStore('--json', 'get', String(id))).stdout) as { meta: unknown };
    expect(got.meta).toEqual(meta);
    // Stored as the values they stand for, as `kv set` stores them.
    const store = await MemMapFS.init(root);
    const stored = (await store.getMemory(id))!.meta;
    await store.close();
    expect(stored.blob).toEqual(new Uint8Array([0, 1, 2]));
    expect(stored.ratio).toBeNaN();
    expect(Object.keys(stored)).toContain('gone');
    expect(stored.gone).toBeUndefined();
    const listed = JSON.parse((await inStore('--json', 'list')).stdout) as { memories: Array<{ meta: unknown }> };
    expect(listed.memories[0]!.meta).toEqual(meta);
    const hits = JSON.parse((await inStore('--json', 'query', 'bytes')).stdout) as Array<{ meta: unknown }>;
    expect(hits[0]!.meta).toEqual(meta);
    const history = JSON.parse((await inStore('--json', 'history', String(id))).stdout) as Array<{ memory: { meta: unknown } }>;
    expect(history[0]!.memory.meta).toEqual(meta);
    const updated = JSON.parse((await inStore('--json', 'update', String(id), '--meta', JSON.stringify({ blob: { $base64: 'AQ==' } }))).stdout) as { meta: unknown };
    expect(updated.meta).toEqual({ blob: { $base64: 'AQ==' } });

    const extra = { bytes: { $base64: 'AAEC' }, big: { $number: 'Infinity' } };
    expect((await inStore('state', 'set', JSON.stringify({ extra }))).code).toBe(0);
    expect(JSON.parse((await inStore('--json', 'state', 'get')).stdout)).toMatchObject({ extra });
    const again = await MemMapFS.init(root);
    expect(again.getState().extra).toEqual({ bytes: new Uint8Array([0, 1, 2]), big: Number.POSITIVE_INFINITY });
    await again.close();
  });

  it('are printed for people in the same tagged JSON, which --meta and state set read back as they were', async () => {
    const meta = { sig: { $base64: 'AAEC' }, score: { $number: 'NaN' } };
    const { id } = JSON.parse((await inStore('--json', 'append', 'tagged in human output', '--meta', JSON.stringify(meta))).stdout) as { id: number };
    const line = `meta ${JSON.stringify(meta)}`;
    expect((await inStore('get', String(id))).stdout).toContain(line);
    expect((await inStore('history', String(id))).stdout).toContain(line);
    const extra = { blob: { $base64: 'AQID' }, x: { $number: '-Infinity' } };
    expect((await inStore('state', 'set', JSON.stringify({ extra }))).stdout).toContain(`extra: ${JSON.stringify(extra)}`);
    expect((await inStore('state', 'get')).stdout).toContain(`extra: ${JSON.stringify(extra)}`);
  });
});

describe('stats and init', () => {
  it('reports the number of live memories as JSON and as key: value lines', async () => {
    await initStore();
    await inStore('append', 'one');
    await inStore('append', 'two');
    await inStore('delete', '1');
    const stats = JSON.parse((await inStore('stats', '--json')).stdout) as StoreStats;
    expect(stats).toMatchObject({ root, memories: 1, codec: 'msgpack', search: 'segments' });
    const human = (await inStore('stats')).stdout.split('\n');
    expect(human).toContain('memories: 1');
    expect(human).toContain(`root: ${root}`);
  });

  it('creates the store only with init; other commands fail with STORE_NOT_FOUND and create nothing', async () => {
    const missing = await inStore('stats');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\(STORE_NOT_FOUND\)\n$/);
    expect(existsSync(root)).toBe(false);

    const created = await inStore('init');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toContain(root);
    expect(JSON.parse((await inStore('init', '--json')).stdout)).toEqual({ root, memories: 0, codec: 'msgpack', search: 'segments' });
  });

  it("says where the store is when --root names the folder that holds the default .memmap_fs_root", async () => {
    expect((await cli(['init'], { cwd: dir })).code).toBe(0);
    const beside = await cli(['--root', dir, 'stats']);
    expect(beside.code).toBe(1);
    expect(beside.stderr).toContain(`a store is in ${join(dir, '.memmap_fs_root')}`);
  });

  it('takes the root from MEMMAPFS_ROOT, else .memmap_fs_root in the working folder', async () => {
    const fromEnv = join(dir, 'env-store');
    await cli(['init'], { env: { MEMMAPFS_ROOT: fromEnv }, cwd: dir });
    expect(existsSync(fromEnv)).toBe(true);

    const byDefault = await cli(['init', '--json'], { cwd: dir });
    expect(JSON.parse(byDefault.stdout).root).toBe(join(dir, '.memmap_fs_root'));

    await cli(['append', 'explicit root wins'], { env: { MEMMAPFS_ROOT: fromEnv }, cwd: dir });
    expect(JSON.parse((await cli(['stats', '--json', '--root', fromEnv])).stdout).memories).toBe(1);
    expect(JSON.parse((await cli(['stats', '--json'], { cwd: dir })).stdout).memories).toBe(0);
  });

  it('takes a leading ~ of the root for the home folder, as a shell would (a config file passes it as it is)', async () => {
    const home = process.env.HOME;
    process.env.HOME = dir;
    try {
      expect(JSON.parse((await cli(['init', '--json', '--root', '~/tilde-store'], { cwd: join(dir, 'elsewhere') })).stdout).root).toBe(join(dir, 'tilde-store'));
    } finally {
      process.env.HOME = home;
    }
    expect(existsSync(join(dir, 'elsewhere', '~'))).toBe(false);
  });

  it('creates a store with --codec, reopens it with its own codec, and refuses another', async () => {
    await initStore('--codec', 'cbor');
    await inStore('append', 'encoded with cbor');
    expect(JSON.parse((await inStore('stats', '--json')).stdout)).toMatchObject({ codec: 'cbor', memories: 1 });
    const mismatch = await inStore('--codec', 'msgpack', 'stats');
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/\(CODEC_MISMATCH\)\n$/);
    expect(mismatch.stderr).toContain('--codec cbor');
  });

  it('searches with orama when asked to', async () => {
    await initStore();
    await inStore('append', 'Orama indexes this sentence', '--tag', 'search');
    const hits = JSON.parse((await inStore('--search', 'orama', 'query', 'sentence', '--json')).stdout) as MemoryHit[];
    expect(hits.map((hit) => hit.id)).toEqual([1]);
    expect(JSON.parse((await inStore('--search', 'orama', 'stats', '--json')).stdout).search).toBe('orama');
  });
});

describe('usage errors', () => {
  beforeEach(() => initStore());

  it("gives the store's advice in the command line's terms: its options and commands, not the library's", async () => {
    const ttl = await inStore('append', 'x', '--ttl', '9007199254740991');
    expect(ttl.code).toBe(1);
    expect(ttl.stderr).toMatch(/--ttl 9007199254740991 puts the expiry .*leave --ttl out/);
    expect(ttl.stderr).not.toMatch(/ttlMs/);
    const undefinedValue = await inStore('kv', 'set', 'b', '{"$undefined":true}');
    expect(undefinedValue.code).toBe(1);
    expect(undefinedValue.stderr).toMatch(/use 'memmapfs kv delete KEY' to remove a key/);
    expect(undefinedValue.stderr).not.toMatch(/deleteKv/);
  });

  it.each([
    ['an unknown command', ['frobnicate'], "unknown command 'frobnicate'", 'memmapfs --help'],
    ['an unknown option', ['query', 'x', '--fuzzy'], "Unknown option '--fuzzy'", 'memmapfs --help'],
    ["another command's option", ['append', 'x', '--limit', '3'], "option '--limit' does not apply to 'append'", 'memmapfs append --help'],
    ['a missing argument', ['get'], 'get: missing ID', 'memmapfs get --help'],
    ['an extra argument', ['append', 'two', 'words'], "unexpected argument 'words'", 'memmapfs append --help'],
    ['a bad number', ['get', 'seven'], "ID must be a positive integer, got 'seven'", 'memmapfs get --help'],
    ['a bad limit', ['query', 'x', '--limit', '-1'], '--limit', 'memmapfs --help'],
    ['bad --meta JSON', ['append', 'x', '--meta', '{oops'], '--meta is not valid JSON', 'memmapfs append --help'],
    ['an unknown search provider', ['--search', 'lucene', 'stats'], "--search must be segments or flexsearch or orama, got 'lucene'", 'memmapfs --help'],
    ['a group without subcommand', ['state'], "'state' needs a subcommand: get, set or watch", 'memmapfs state --help'],
  ])('exits with 2 for %s, with a hint to run --help', async (_case, args, message, help) => {
    const run = await inStore(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain(`(run '${help}' for usage)`);
  });

  it('writes usage errors as a JSON error object under --json', async () => {
    const run = await inStore('--json', 'frobnicate');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(JSON.parse(run.stderr)).toEqual({ error: { code: 'USAGE_ERROR', message: "unknown command 'frobnicate'" } });
  });

  it('checks arguments before touching the store', async () => {
    await inStore('append', 'kept');
    expect((await inStore('append', 'x', '--ttl', 'soon')).code).toBe(2);
    for (const args of [['append', ' '], ['append', 'x', '--tag', ''], ['append', 'x', '--namespace', ''], ['query', 'x', '--tag', ''], ['query', 'x', '--limit', '5000']]) {
      const run = await inStore(...args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(/must (not be empty|be an integer from 1 to 1000)/);
    }
    expect(JSON.parse((await inStore('stats', '--json')).stdout).memories).toBe(1);
  });

  it('refuses a JSON number too large for a number (it read as Infinity), in kv set, --meta and state set, writing nothing', async () => {
    for (const args of [['kv', 'set', 'k', '1e400'], ['append', 'x', '--meta', '{"a":[1,-1e999]}'], ['state', 'set', '{"mine":1e400}']]) {
      const run = await inStore(...args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(/too large for a number.*\{"\$number": ?"Infinity"\}/);
    }
    expect(JSON.parse((await inStore('stats', '--json')).stdout)).toMatchObject({ memories: 0, kvKeys: 0 });
    expect((await inStore('kv', 'set', 'k', '{"$number":"Infinity"}')).code).toBe(0);
  });

  it('refuses an option given twice, rather than take the last', async () => {
    for (const args of [['list', '--limit', '5', '--limit', '6'], ['--root', root, 'list'], ['append', 'x', '--namespace', 'a', '--namespace', 'b']]) {
      const run = await inStore(...args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(/given twice/);
    }
  });

  it('takes text after -- even when it starts with a dash', async () => {
    expect((await inStore('append', '--', '-5 degrees tonight')).stdout).toBe('1\n');
    expect(JSON.parse((await inStore('get', '1', '--json')).stdout).text).toBe('-5 degrees tonight');
  });
});

describe('help and version', () => {
  it('prints general usage with every command and global option', async () => {
    for (const flag of ['--help', '-h']) {
      const run = await cli([flag]);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^memmapfs: /);
      for (const command of ['init', 'append \\[TEXT\\]', 'query Q', 'get ID', 'delete ID', 'state get', 'state set JSON', 'stats']) {
        expect(run.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      }
      for (const option of ['--root DIR', '--search NAME', '--codec NAME', '--json', '--help', '--version']) expect(run.stdout).toContain(option);
    }
  });

  it('prints the general help for no arguments at all (exit 0)', async () => {
    const run = await cli([]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe((await cli(['--help'])).stdout);
  });

  it("prints a command's usage with each of its options, without opening a store", async () => {
    const run = await cli(['--root', root, 'query', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: memmapfs query Q [--tag T]... [--namespace NS] [--limit N]');
    for (const option of ['--tag T', '--namespace NS', '--limit N', '--root DIR']) expect(run.stdout).toContain(option);
    expect(run.stdout).not.toContain('--meta');
    expect(existsSync(root)).toBe(false);

    const append = await cli(['append', '-h']);
    for (const option of ['--tag T', '--namespace NS', '--meta JSON', '--ttl MS']) expect(append.stdout).toContain(option);
  });

  it('prints the version of the package', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe(`the memmapfs binary (${binaryKind === 'dist' ? 'built dist/bin.js' : 'src/bin.ts through tsx'})`, () => {
  /** Runs the binary in a process of its own (see `./binary.ts`: the built dist, else the source through tsx). */
  const memmapfs = (args: string[], cwd: string): Promise<Run> => runBinary(args, { cwd }).then(({ code, stdout, stderr }) => ({ code, stdout, stderr }));

  it('runs init, append and query in separate processes against .memmap_fs_root in the working folder', async () => {
    const init = await memmapfs(['init'], dir);
    expect(init).toMatchObject({ code: 0, stderr: '' });
    expect(init.stdout).toContain(join(dir, '.memmap_fs_root'));

    expect(await memmapfs(['append', 'Standup moved to 10:30', '--tag', 'calendar'], dir)).toEqual({ code: 0, stdout: '1\n', stderr: '' });
    const query = await memmapfs(['query', 'standup', '--json', '--tag', 'calendar'], dir);
    expect(query.code).toBe(0);
    expect((JSON.parse(query.stdout) as MemoryHit[]).map((hit) => [hit.id, hit.text])).toEqual([[1, 'Standup moved to 10:30']]);

    expect(await memmapfs(['get', '9'], dir)).toEqual({ code: 1, stdout: '', stderr: 'memmapfs: no memory with id 9\n' });
    const usage = await memmapfs(['get', '--bogus'], dir);
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
  });

  it.skipIf(!existsSync('/dev/full'))('fails with one line on stderr and exit code 1 when stdout cannot be written (a full disk), and still closes the store', async () => {
    expect((await memmapfs(['--root', root, 'init'], dir)).code).toBe(0);
    expect((await memmapfs(['--root', root, 'append', 'a memory to export'], dir)).code).toBe(0);
    const full = openSync('/dev/full', 'w');
    try {
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [...binaryCommand(), '--root', root, 'export'], { cwd: dir, env: binaryEnvironment(), stdio: ['ignore', full, 'pipe'] });
        let stderr = '';
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^memmapfs: cannot write to stdout: .*ENOSPC.*\n$/);
    } finally {
      closeSync(full);
    }
    // Closed as it should be: the next command takes the store at once.
    expect(await memmapfs(['--root', root, 'append', 'after'], dir)).toMatchObject({ code: 0, stderr: '' });
    // Output written last, just before the command returns (help, the version): its failure is heard too.
    for (const args of [['--version'], ['--help'], ['--root', root, 'get', '1']]) {
      const fullAgain = openSync('/dev/full', 'w');
      try {
        const late = spawnSync(process.execPath, [...binaryCommand(), ...args], { cwd: dir, env: binaryEnvironment(), stdio: ['ignore', fullAgain, 'pipe'], encoding: 'utf8' });
        expect({ args, code: late.status, stderr: late.stderr }).toEqual({ args, code: 1, stderr: expect.stringMatching(/^memmapfs: cannot write to stdout: .*ENOSPC.*\n$/) });
      } finally {
        closeSync(fullAgain);
      }
    }
  });

  it('loads string-width and cli-progress only when a command needs them (each costs tens of milliseconds of every start)', async () => {
    // What the process loaded: every ES module import it resolved (a hook), and its CommonJS modules at exit.
    const log = join(dir, 'loaded.log');
    const hooks = join(dir, 'log-hooks.mjs');
    await writeFile(hooks, `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  appendFileSync(${JSON.stringify(log)}, specifier + '\\n');\n  return next(specifier, context);\n}\n`);
    const preload = join(dir, 'log-preload.mjs');
    await writeFile(
      preload,
      `import { appendFileSync } from 'node:fs';\nimport { createRequire, register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\nprocess.on('exit', () => appendFileSync(${JSON.stringify(log)}, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\n'));\n`,
    );
    const loaded = async (args: string[]): Promise<string> => {
      await rm(log, { force: true });
      const run = await runBinary(['--root', root, ...args], { cwd: dir, env: { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` } });
      expect(run.code, run.stderr).toBe(0);
      return readFile(log, 'utf8');
    };
    expect((await memmapfs(['--root', root, 'init'], dir)).code).toBe(0);
    expect((await memmapfs(['--root', root, 'append', 'plain words only'], dir)).code).toBe(0);
    for (const args of [['get', '1'], ['stats'], ['list']]) {
      const modules = await loaded(args);
      expect(modules, args.join(' ')).toContain('@memmapfs/core');
      expect(modules, args.join(' ')).not.toMatch(/string-width|cli-progress/);
    }
    const wide = await memmapfs(['--root', root, 'append', '日本語のメモ 🎉'], dir);
    expect(wide.code).toBe(0);
    expect(await loaded(['list'])).toContain('string-width');
    expect(await loaded(['get', wide.stdout.trim()])).not.toContain('string-width');
  });

  it('forget --erase in a process of its own waits for the compaction, and the text is in no file', async () => {
    expect((await memmapfs(['--root', root, 'init'], dir)).code).toBe(0);
    expect((await memmapfs(['--root', root, 'append', 'kept for later'], dir)).code).toBe(0);
    const secret = await memmapfs(['--root', root, 'append', 'the vault code is walrus-902'], dir);
    const erased = await memmapfs(['--root', root, '--json', 'forget', secret.stdout.trim(), '--erase'], dir);
    expect(erased).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(erased.stdout)).toMatchObject({ deleted: true, erased: true, compaction: { chunksRewritten: 1 } });
    const holding: string[] = [];
    for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath ?? entry.path, entry.name);
      if (entry.isFile() && (await readFile(path)).includes(Buffer.from('walrus-902'))) holding.push(path);
    }
    expect(holding).toEqual([]);
    expect((await memmapfs(['--root', root, 'get', '1'], dir)).stdout).toContain('kept for later');
    // (Five processes of the built CLI, one of them compacting: 15 s on a quiet machine.)
  }, 60_000);

  it('keeps the agent state from one process to the next', async () => {
    expect((await memmapfs(['--root', root, 'init'], dir)).code).toBe(0);
    const set = await memmapfs(['state', 'set', '{"status":"waiting","extra":{"step":2}}', '--root', root], dir);
    expect(set.code).toBe(0);
    const get = await memmapfs(['--json', '--root', root, 'state', 'get'], dir);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ status: 'waiting', activeMemoryCount: 0, lastUpdatedId: 0, extra: { step: 2 } });
  });
});

describe('the codecs runCli registers under the built-in names', () => {
  it('take the options a store is opened with, and refuse ones the codec does not take, as the built-in ones do', async () => {
    expect(await runCli(['--version'], { stdout: { write: () => true }, stderr: { write: () => true } })).toBe(0);
    const root = await mkdtemp(join(tmpdir(), 'memmapfs-cli-codec-'));
    try {
      await expect(MemMapFS.init(join(root, 'a'), { codec: { codec: 'msgpack', options: { copyBinaryy: false } as never } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"copyBinaryy"') });
      // (copyBinary: false makes decoded binary values views into the bytes read: reached the codec only if passed on.)
      const fs = await MemMapFS.init(join(root, 'b'), { codec: { codec: 'cbor', options: { copyBinary: false } } });
      const codec = (fs as unknown as { engine: { codec: { decode(bytes: Uint8Array): unknown; encode(value: unknown): Uint8Array } } }).engine.codec;
      const bytes = codec.encode({ b: Uint8Array.of(1, 2, 3) });
      const decoded = codec.decode(bytes) as { b: Uint8Array };
      expect(decoded.b.buffer).toBe(bytes.buffer);
      await fs.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
