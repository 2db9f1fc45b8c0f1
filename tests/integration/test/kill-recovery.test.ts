import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MemMapFS } from '@memmapfs/core';
import { msgpack } from '@memmapfs/codec-msgpack';
import { flexsearch } from '@memmapfs/search-flexsearch';

const childScript = fileURLToPath(new URL('./support/append-forever.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface KillRound {
  acknowledged: Map<number, string>;
  attempted: Set<string>;
}

/** Starts the appending child, lets it run for `runMs` after it is ready, then SIGKILLs it. */
export async function appendThenKill(root: string, runMs: number): Promise<KillRound> {
  const child = spawn(process.execPath, ['--conditions=dev-source', '--import', tsx, childScript, root], { stdio: ['ignore', 'pipe', 'pipe'] });
  const round: KillRound = { acknowledged: new Map(), attempted: new Set() };
  let buffered = '';
  let stderr = '';
  let ready: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.setEncoding('utf8').on('data', (data: string) => {
    buffered += data;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [kind, a, b] = line.split('\t');
      if (kind === 'ready') ready();
      else if (kind === 'try') round.attempted.add(JSON.parse(a!) as string);
      else if (kind === 'ack') round.acknowledged.set(Number(a), JSON.parse(b!) as string);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await Promise.race([isReady, exited]);
  if (child.exitCode !== null) throw new Error(`the appending child exited early (${child.exitCode}): ${stderr}`);
  await new Promise((resolve) => setTimeout(resolve, runMs));
  child.kill('SIGKILL');
  await exited;
  if (!child.killed) throw new Error(`the child was not killed: ${stderr}`);
  return round;
}

/** Opens the store after a kill and checks it against everything the children ever acknowledged. */
export async function checkAfterKill(root: string, acknowledged: Map<number, string>, attempted: Set<string>): Promise<number> {
  const fs = await MemMapFS.init(root, { search: flexsearch(), codec: msgpack() });
  try {
    for (const [id, text] of acknowledged) {
      const memory = await fs.getMemory(id);
      expect(memory?.text, `acknowledged memory ${id}`).toBe(text);
    }
    const present = await fs.queryMemory('', { limit: 1000 });
    const stats = fs.stats();
    expect(stats.memories).toBeGreaterThanOrEqual(acknowledged.size);
    for (const hit of present) expect(attempted.has(hit.text), `memory ${hit.id} holds a text nobody wrote`).toBe(true);
    const found = await fs.queryMemory('payload', { limit: 5 });
    expect(found.length).toBe(Math.min(5, stats.memories));
    return stats.memories;
  } finally {
    await fs.close();
  }
}

describe('kill -9 while appending', () => {
  it('keeps every acknowledged memory, byte for byte, across repeated SIGKILLs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memmapfs-kill-'));
    const root = join(dir, 'store');
    const acknowledged = new Map<number, string>();
    const attempted = new Set<string>();
    try {
      const kills = Number(process.env.MEMMAPFS_KILLS ?? 12);
      for (let round = 0; round < kills; round++) {
        const result = await appendThenKill(root, 20 + Math.floor(Math.random() * 180));
        for (const [id, text] of result.acknowledged) {
          expect(acknowledged.has(id), `id ${id} acknowledged twice`).toBe(false);
          acknowledged.set(id, text);
        }
        for (const text of result.attempted) attempted.add(text);
        await checkAfterKill(root, acknowledged, attempted);
      }
      expect(acknowledged.size).toBeGreaterThan(kills);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
