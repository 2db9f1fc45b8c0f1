import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { appendFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemMapFS, type MemoryHit, type RepairReport, type VerifyReport } from '@memmapfs/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { initStore, inStore, paths, useTempStore } from './harness.js';

useTempStore();

const appendThenBusy = fileURLToPath(new URL('./support/append-then-busy.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const walPath = () => join(paths.root, 'state.wal');

/** Appends `count` memories, one command (one commit) each, and returns their ids. */
async function appendMemories(count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 1; i <= count; i++) {
    const run = await inStore(['--json', 'append', `memory number ${i} about tea`, '--tag', 'seed']);
    expect(run.code).toBe(0);
    ids.push((JSON.parse(run.stdout) as { id: number }).id);
  }
  return ids;
}

/** Flips one byte of a file at `at` (default: the middle); returns the file as it was. */
async function flipByte(file: string, at?: number): Promise<Buffer> {
  const original = await readFile(file);
  const damaged = Buffer.from(original);
  const offset = at ?? Math.floor(original.length / 2);
  damaged[offset] = damaged[offset]! ^ 0xff;
  await writeFile(file, damaged);
  return original;
}

const backups = async (): Promise<string[]> => (await readdir(paths.root)).filter((name) => name.startsWith('repair-backup-'));

describe('verify', () => {
  beforeEach(() => initStore());

  it('passes a healthy store: exit 0, a summary line, and the report as JSON', async () => {
    await appendMemories(3);
    const human = await inStore(['verify']);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toMatch(/^ok: \d+ records, 3 blocks checked\n$/);

    const json = await inStore(['verify', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(json.stdout) as VerifyReport;
    expect(report).toMatchObject({ root: paths.root, ok: true, codec: 'msgpack', blocksChecked: 3, problems: [] });
    expect(report.records).toBeGreaterThanOrEqual(3);
  });

  it('passes a fresh store with nothing in it', async () => {
    const run = await inStore(['--json', 'verify']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, blocksChecked: 0, problems: [] });
  });

  it('finds a byte flipped in the middle of state.wal: exit 1, a wal-damaged error, stdout only the report', async () => {
    await appendMemories(10);
    await flipByte(walPath());

    const human = await inStore(['verify']);
    expect(human.code).toBe(1);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^error {2}wal-damaged {2}Record \d+ at byte \d+ is damaged/);
    expect(lines.at(-1)).toMatch(/^1 problem \(1 error\); \d+ records, \d+ blocks checked$/);
    expect(human.stderr).toBe(`memmapfs: the store at ${paths.root} has 1 error; 'memmapfs repair' can fix it\n`);

    const json = await inStore(['verify', '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as VerifyReport;
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ severity: 'error', kind: 'wal-damaged', file: 'state.wal', repairable: true })]);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'STORE_DAMAGED' } });
  });

  it('exits 0 for warnings alone: torn bytes after the last record', async () => {
    await appendMemories(3);
    await appendFile(walPath(), Buffer.from([1, 2, 3, 4, 5]));
    const run = await inStore(['verify', '--json']);
    const report = JSON.parse(run.stdout) as VerifyReport;
    expect(report.problems).toEqual([expect.objectContaining({ severity: 'warning', kind: 'wal-torn-tail' })]);
    expect(report.ok).toBe(true);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect((await inStore(['verify'])).stdout).toMatch(/^warning {2}wal-torn-tail {2}5 bytes after the last whole record.*\n1 problem \(0 errors\); /);
  });

  it('finds a damaged block of a closed store (exit 1), which repair puts back from the log', async () => {
    const [first] = await appendMemories(3);
    const [chunk] = await readdir(join(paths.root, 'blocks'));
    await flipByte(join(paths.root, 'blocks', chunk!), 0);
    const run = await inStore(['verify', '--json']);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as VerifyReport).problems).toEqual([expect.objectContaining({ severity: 'error', kind: 'block-corrupt', lsn: 1, repairable: true })]);

    const repair = await inStore(['repair', '--yes', '--json']);
    expect(repair.code).toBe(0);
    const report = JSON.parse(repair.stdout) as RepairReport;
    expect(report.actions[0]).toMatch(/^Put back the block of record 1 /);
    expect(report.backup).toBeUndefined();
    expect(JSON.parse((await inStore(['get', String(first), '--json'])).stdout)).toMatchObject({ text: 'memory number 1 about tea' });
  });

  it('shows progress on a terminal stderr only, and erases it', async () => {
    await appendMemories(2);
    const terminal = await inStore(['verify'], { stderrIsTTY: true });
    expect(terminal.code).toBe(0);
    expect(terminal.stderr).toMatch(/verify \[[█░]+\] 100% \| 2\/2 blocks \| \d+\/s \| ETA \S+/);
    expect(terminal.stdout).toMatch(/^ok: /);
    expect((await inStore(['verify', '--json'], { stderrIsTTY: true })).stderr).toBe('');
    expect((await inStore(['verify'])).stderr).toBe('');
  });
});

describe('reindex progress', () => {
  beforeEach(() => initStore());

  it('a query that rebuilds the search index shows its progress on a terminal stderr only', async () => {
    await appendMemories(3);
    // Orama has no saved index of this store (segments indexed it): the query rebuilds one.
    const terminal = await inStore(['--search', 'orama', 'query', 'tea'], { stderrIsTTY: true });
    expect(terminal.code).toBe(0);
    expect(terminal.stderr).toMatch(/reindex \[[█░]+\] 100% \| 3\/3 memories \| \d+\/s/);
    expect(terminal.stdout).toMatch(/memory number 1 about tea/);
    await appendMemories(1);
    const piped = await inStore(['--search', 'flexsearch', 'query', 'tea']);
    expect(piped).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('a damaged sealed log segment', () => {
  it('is met with the advice to put it back from a backup, without the advice to run repair (which cannot mend it)', async () => {
    await initStore();
    const fs = await MemMapFS.init(paths.root, { historyRetentionMs: 0 });
    await fs.appendMemory('first');
    // (A reader of the first record keeps the segment the checkpoint seals.)
    const reader = await MemMapFS.init(paths.root, { readOnly: true });
    await reader.getMemory(1);
    for (let i = 0; i < 3; i++) await fs.appendMemory(`memory ${i}`);
    await fs.checkpoint();
    await fs.appendMemory('tail');
    await fs.close();
    await reader.close();
    const [segment] = (await readdir(join(paths.root, 'wal'))).filter((name) => name.endsWith('.seg'));
    const path = join(paths.root, 'wal', segment!);
    const bytes = await readFile(path);
    bytes[bytes.indexOf('first') + 2]! ^= 0x20;
    await writeFile(path, bytes);
    // (No checkpoint: the open reads the segment.)
    await rm(join(paths.root, 'checkpoints'), { recursive: true });
    await rm(join(paths.root, 'state.manifest'));
    const result = await inStore(['stats']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(segment);
    expect(result.stderr).toContain('cannot mend a sealed segment');
    expect(result.stderr).not.toContain("then 'memmapfs repair'");
  });
});

describe('verify without a store', () => {
  it('fails with STORE_NOT_FOUND and creates nothing', async () => {
    const run = await inStore(['verify']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\(STORE_NOT_FOUND\)\n$/);
    expect(existsSync(paths.root)).toBe(false);
  });
});

describe('a store whose state.wal was lost', () => {
  beforeEach(() => initStore());

  it('verify, repair and every other command say the log is missing (WAL_MISSING), never that there is no store or that repair helps, and make no new log', async () => {
    await appendMemories(2);
    await rm(join(paths.root, 'state.wal'));
    for (const args of [['verify'], ['repair', '--yes'], ['get', '1'], ['append', 'a new memory']]) {
      const run = await inStore(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(/state\.wal, is missing.*restore it from a backup.*\(WAL_MISSING\)\n$/s);
      expect(run.stderr).not.toMatch(/memmapfs repair/);
    }
    expect(existsSync(join(paths.root, 'state.wal'))).toBe(false);
  });
});

describe('repair', () => {
  beforeEach(() => initStore());

  it('with --yes, makes a store with a damaged WAL open again, keeping the intact records after the damage, and backs up the original', async () => {
    const appended = await appendMemories(10);
    const original = await readFile(walPath());
    await flipByte(walPath(), original.indexOf('memory number 5 about tea') + 3);
    const damaged = await readFile(walPath());
    const broken = await inStore(['query', 'tea']);
    expect(broken.code).toBe(1);

    const run = await inStore(['repair', '--yes', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(run.stdout) as RepairReport;
    expect(report.after).toMatchObject({ ok: true, problems: [] });
    expect(report.actions.length).toBeGreaterThan(0);
    expect(report.backup).toBeDefined();
    expect(await readFile(join(report.backup!, 'state.wal'))).toEqual(damaged);
    expect((await stat(walPath())).size).toBeLessThan(original.length);

    expect((await inStore(['verify'])).code).toBe(0);
    const query = await inStore(['query', 'tea', '--json', '--limit', '20']);
    expect(query.code).toBe(0);
    const ids = (JSON.parse(query.stdout) as MemoryHit[]).map((hit) => hit.id).sort((a, b) => a - b);
    // Only the damaged memory is lost: those before it and after it keep their ids.
    expect(ids).toEqual(appended.filter((_, i) => i !== 4));
    expect(report.actions.some((action) => /^Damage at byte \d+ \(record \d+: .*\): lost records? \d+/.test(action))).toBe(true);
    const appendedAfter = JSON.parse((await inStore(['--json', 'append', 'written after the repair'])).stdout) as { id: number };
    expect(appendedAfter.id).toBeGreaterThan(appended.at(-1)!);
  });

  it('with --no-resync, keeps only the records before the damage, as repair did before', async () => {
    const appended = await appendMemories(10);
    await flipByte(walPath(), (await readFile(walPath())).indexOf('memory number 5 about tea') + 3);
    const run = await inStore(['repair', '--yes', '--no-resync', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(run.stdout) as RepairReport;
    expect(report.after).toMatchObject({ ok: true, problems: [] });
    expect(report.actions[0]).toMatch(/^Kept the \d+ valid records of state\.wal before the damage at byte \d+ and dropped the \d+ bytes from there on \(records \d+–\d+ now hold placeholders/);
    const query = await inStore(['query', 'tea', '--json', '--limit', '20']);
    const ids = (JSON.parse(query.stdout) as MemoryHit[]).map((hit) => hit.id).sort((a, b) => a - b);
    expect(ids).toEqual(appended.slice(0, 4));
    // The ids of the memories dropped are not given out again.
    const appendedAfter = JSON.parse((await inStore(['--json', 'append', 'written after the repair'])).stdout) as { id: number };
    expect(appendedAfter.id).toBeGreaterThan(appended.at(-1)!);
  });

  it('prints each action, the backup folder and the check after it', async () => {
    await appendMemories(10);
    await flipByte(walPath());
    const run = await inStore(['repair', '-y']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Kept the \d+ valid records of state\.wal/);
    expect(lines).toContain(`backup: ${join(paths.root, (await backups())[0]!)}`);
    expect(lines.at(-1)).toMatch(/^after: ok: \d+ records, \d+ blocks checked$/);
  });

  it('refuses without --yes when stdin is not a terminal (exit 2), and changes nothing', async () => {
    await appendMemories(10);
    await flipByte(walPath());
    const damaged = await readFile(walPath());
    const run = await inStore(['repair']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('pass --yes to repair');
    expect(run.stderr).toContain("(run 'memmapfs repair --help' for usage)");
    expect(await readFile(walPath())).toEqual(damaged);
    expect(await backups()).toEqual([]);

    const json = await inStore(['repair', '--json'], { stdinIsTTY: true });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'USAGE_ERROR' } });
  });

  it('asks at a terminal: no leaves the store as it was (exit 1), yes repairs it', async () => {
    await appendMemories(10);
    await flipByte(walPath());
    const damaged = await readFile(walPath());

    const declined = await inStore(['repair'], { stdin: ['n'], stdinIsTTY: true });
    expect(declined.code).toBe(1);
    expect(declined.stdout).toBe('');
    expect(declined.stderr).toContain('repair would fix:\n  error  wal-damaged  ');
    expect(declined.stderr).toContain(`Repair the store at ${paths.root}? [y/N] `);
    expect(declined.stderr).toMatch(/memmapfs: repair cancelled; nothing was changed\n$/);
    expect(await readFile(walPath())).toEqual(damaged);

    const accepted = await inStore(['repair'], { stdin: ['yes'], stdinIsTTY: true });
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toMatch(/after: ok: /);
    expect((await inStore(['verify'])).code).toBe(0);
  });

  it('with --salvage, asks, then writes a damaged checkpoint the log cannot stand in for again without its damaged rows; without it, keeps it', async () => {
    const appended = await appendMemories(3);
    expect((await inStore(['compact'])).code).toBe(0);
    const [checkpoint] = (await readdir(join(paths.root, 'checkpoints'))).filter((name) => name.endsWith('.bin'));
    // The block offset of the second row: its text is not where the row says.
    const damaged = await flipByte(join(paths.root, 'checkpoints', checkpoint!), 160 + 72 + 32).then(() => readFile(join(paths.root, 'checkpoints', checkpoint!)));
    const kept = await inStore(['repair', '--yes']);
    expect(kept.code).toBe(1);
    expect(kept.stdout).toContain('repair --salvage');
    expect(await readFile(join(paths.root, 'checkpoints', checkpoint!))).toEqual(damaged);

    const asked = await inStore(['repair', '--salvage'], { stdin: ['n'], stdinIsTTY: true });
    expect(asked.code).toBe(1);
    expect(asked.stderr).toContain('repair would fix:\n  error  checkpoint-damaged  ');
    expect(asked.stderr).toContain('the memories they held are lost');
    const run = await inStore(['repair', '--salvage', '--yes', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(run.stdout) as RepairReport;
    expect(report.after).toMatchObject({ ok: true, problems: [] });
    expect(report.actions.join('\n')).toMatch(/kept the 2 that read back whole .* and dropped 1, with the memory they held/);
    expect(await readFile(join(report.backup!, checkpoint!))).toEqual(damaged);
    const query = await inStore(['query', 'tea', '--json']);
    expect((JSON.parse(query.stdout) as MemoryHit[]).map((hit) => hit.id).sort((a, b) => a - b)).toEqual([appended[0], appended[2]]);
  });

  it('needs no --yes when only the saved search index is damaged: that is derived data', async () => {
    await appendMemories(2);
    await writeFile(join(paths.root, 'index', 'search.snapshot'), 'garbage');
    const verify = JSON.parse((await inStore(['verify', '--json'])).stdout) as VerifyReport;
    expect(verify.problems).toEqual([expect.objectContaining({ severity: 'warning', kind: 'search-snapshot-unusable', repairable: true })]);
    const run = await inStore(['repair', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(run.stdout) as RepairReport).after.ok).toBe(true);
    expect((await inStore(['query', 'tea', '--json'])).code).toBe(0);
  });

  it('has nothing to do on a healthy store, and then needs no --yes', async () => {
    await appendMemories(2);
    const run = await inStore(['repair']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^nothing to repair\nafter: ok: /);
    expect(JSON.parse((await inStore(['repair', '--json'])).stdout)).toMatchObject({ actions: [], after: { ok: true } });
    expect(await backups()).toEqual([]);
  });
});

describe('help', () => {
  it('lists verify, repair and import, and says repair needs the store closed', async () => {
    const general = await inStore(['--help']);
    for (const command of ['verify', 'repair', 'import \\[FILE\\]']) expect(general.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    const repair = await inStore(['repair', '--help']);
    expect(repair.stdout).toContain('Usage: memmapfs repair [--yes]');
    expect(repair.stdout).toContain('--no-resync');
    expect(repair.stdout).toContain('-y, --yes');
    expect(repair.stdout).toContain('no process has the store open');
    expect(existsSync(paths.root)).toBe(false);
  });
});

describe('compact and forget --erase', () => {
  beforeEach(() => initStore());

  /** Store files (chunks, log, index, checkpoints) that hold `text`. */
  async function filesHolding(text: string, folder = paths.root): Promise<string[]> {
    const found: string[] = [];
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) found.push(...(await filesHolding(text, path)));
      else if ((await readFile(path)).includes(Buffer.from(text))) found.push(path);
    }
    return found;
  }

  it('forget ID --erase leaves the text in no file of the store; the rest reads the same', async () => {
    const ids = await appendMemories(3);
    const secret = JSON.parse((await inStore(['--json', 'append', 'the launch code is zebra-417'])).stdout) as { id: number };
    expect(await filesHolding('zebra-417')).not.toEqual([]);
    const run = await inStore(['--json', 'forget', String(secret.id), '--erase']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ deleted: true, erased: true, compaction: { chunksRewritten: 1 } });
    expect(await filesHolding('zebra-417')).toEqual([]);
    for (const [i, id] of ids.entries()) expect(JSON.parse((await inStore(['--json', 'get', String(id)])).stdout).text).toBe(`memory number ${i + 1} about tea`);
    expect((await inStore(['verify'])).code).toBe(0);
  });

  it('stream delete KEY --erase leaves its bytes in no file of the store; the other streams read the same', async () => {
    await appendMemories(2);
    await inStore(['stream', 'append', 'kept', '-'], { stdin: 'a transcript that stays' });
    await inStore(['stream', 'append', 'secret', '-'], { stdin: 'the vault code is walrus-903' });
    expect(await filesHolding('walrus-903')).not.toEqual([]);
    const run = await inStore(['--json', 'stream', 'delete', 'secret', '--erase']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ deleted: true, erased: true, compaction: { erased: true } });
    expect(await filesHolding('walrus-903')).toEqual([]);
    expect((await inStore(['stream', 'read', 'kept'])).stdout).toBe('a transcript that stays');
    expect((await inStore(['verify'])).code).toBe(0);
  });

  it('forget ID --erase of a memory deleted before still erases what it said (exit code 1: there was none to delete)', async () => {
    await appendMemories(2);
    const secret = JSON.parse((await inStore(['--json', 'append', 'the launch code is zebra-417'])).stdout) as { id: number };
    expect((await inStore(['forget', String(secret.id)])).code).toBe(0);
    expect(await filesHolding('zebra-417')).not.toEqual([]);
    const run = await inStore(['--json', 'forget', String(secret.id), '--erase']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ deleted: false, erased: true, compaction: { erased: true } });
    expect(run.stderr).toMatch(/no memory with id \d+ \(compacted with erase all the same: nothing deleted is left in a file of the store\)/);
    expect(await filesHolding('zebra-417')).toEqual([]);
  });

  it('forget ID --erase says what it could not erase, and fails, when another process did not let go of its chunk file', async () => {
    const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, appendThenBusy, paths.root, 'the launch code is zebra-417', '30000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      const { id } = JSON.parse(line) as { id: number };
      const run = await inStore(['forget', String(id), '--erase']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe(`deleted memory ${id}\n`);
      expect(run.stderr).toMatch(/not everything deleted was erased: some of it may still be in 1 chunk file another process appends to.*compact --erase/);
      expect(await filesHolding('zebra-417')).not.toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    const again = await inStore(['--json', 'compact', '--erase']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ erased: true, chunksSkipped: 0, indexFilesLeft: 0 });
    expect(await filesHolding('zebra-417')).toEqual([]);
  }, 60_000);

  it('compact reports what it reclaimed, as text and as JSON', async () => {
    const ids = await appendMemories(4);
    for (const id of ids.slice(0, 3)) expect((await inStore(['delete', String(id)])).code).toBe(0);
    const human = await inStore(['compact', '--erase']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^rewrote 1 chunk file \(1 live blocks moved\): /);
    expect(human.stdout).toMatch(/the log now begins at record \d+/);
    const json = JSON.parse((await inStore(['--json', 'compact'])).stdout) as { chunksRewritten: number; logFirstLsn: number };
    expect(json.chunksRewritten).toBe(0);
    expect(json.logFirstLsn).toBeGreaterThan(1);
  });
});
