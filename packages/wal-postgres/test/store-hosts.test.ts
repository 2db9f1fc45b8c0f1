import { describe, expect, inject, it } from 'vitest';
import { freshStore, serverOfItsOwn } from './support/places.js';
import { INSTALL_ADVICE } from './support/postgres-server.js';
import { startStoreChild, type Line, type StoreChild } from './support/store-process.js';
import { memoryTexts, openHost, tempRoots } from './support/stores.js';
import { acks, compareWithModel, EXPECTED_FAILURES, expectations } from './support/host-expectations.js';

const postgres = inject('postgres');

if (!postgres) {
  it.skip(INSTALL_ADVICE, () => undefined);
} else {
  // (A server of its own: it is restarted.)
  const ownServer = serverOfItsOwn(postgres);

  describe('a store on PostgreSQL, several host processes', () => {
    it('three hosts appending, updating and deleting at once, one killed with -9 and PostgreSQL restarted meanwhile: every acknowledged write holds, ids are unique, and every host and a fresh one read the same memories', async ({ onTestFailed }) => {
      const place = { connectionString: ownServer().connectionString, store: freshStore('hosts') };
      const roots = tempRoots();
      const children: StoreChild[] = [];
      onTestFailed(() => {
        for (const child of children) {
          const short = (line: Line) => JSON.stringify(line, (key, value: unknown) => (typeof value === 'string' && value.length > 160 ? `${value.slice(0, 160)}…` : value)).slice(0, 400);
          const failures = child.lines.filter((line) => !('ack' in line || 'attempt' in line || 'view' in line));
          const codes = new Map<string, number>();
          for (const line of failures) codes.set(`${String(line.failed ?? Object.keys(line)[0])}:${String(line.code ?? '')}`, (codes.get(`${String(line.failed ?? Object.keys(line)[0])}:${String(line.code ?? '')}`) ?? 0) + 1);
          console.error([
            `--- host ${child.name}: ${child.lines.length} lines, ${acks(child)} acknowledged; other lines by kind: ${JSON.stringify(Object.fromEntries(codes))}`,
            'first of them:', ...failures.slice(0, 6).map(short),
            'last lines:', ...child.lines.slice(-12).map(short),
            `stderr:\n${child.stderr()}`,
          ].join('\n'));
        }
      });
      const start = (name: string, root: string, seed: number) => {
        const child = startStoreChild({ ...place, root, name, seed, workers: 3 });
        children.push(child);
        return child;
      };
      try {
        // The store exists, with a memory, before the hosts start: each of them replays it.
        const setup = await openHost(await roots.make('setup'), place, 'setup');
        const setupText = 'written before the hosts started';
        const setupId = await setup.appendMemory(setupText, ['setup']);
        await setup.close();

        const rootC = await roots.make('c');
        const [a, b, c] = [start('a', await roots.make('a'), 11), start('b', await roots.make('b'), 22), start('c', rootC, 33)];
        await Promise.all([a, b, c].map((child) => child.line((line) => line.ready === true, 'ready', 30_000)));
        await Promise.all([a, b, c].map((child) => child.until(() => acks(child) >= 25, 'at 25 acknowledged writes')));

        // (a) A host dies mid-write; another process opens its root afterwards (its cache after a kill -9).
        c.process.kill('SIGKILL');
        expect(await c.exited).toBe('SIGKILL');
        const afterKill = new Map([a, b].map((child) => [child, acks(child)]));
        const c2 = start('c2', rootC, 44);
        await c2.line((line) => line.ready === true, 'ready after the kill of the host before it', 30_000);
        await Promise.all([
          ...[a, b].map((child) => child.until(() => acks(child) >= afterKill.get(child)! + 15, '15 acknowledged writes past the kill')),
          c2.until(() => acks(c2) >= 15, 'at 15 acknowledged writes'),
        ]);

        // (b) PostgreSQL crashes and comes back while the hosts write.
        const survivors = [a, b, c2];
        await ownServer().restart('immediate', 1_000);
        const afterRestart = new Map(survivors.map((child) => [child, acks(child)]));
        await Promise.all(survivors.map((child) => child.until(() => acks(child) >= afterRestart.get(child)! + 20, '20 acknowledged writes past the restart of PostgreSQL', 30_000)));

        // The hosts stop (finishing, and retrying until acknowledged, what they had under way), then
        // each says what it reads; so does a fresh host, in this process.
        for (const child of survivors) child.send('stop');
        await Promise.all(survivors.map((child) => child.line((line) => line.stopped === true, 'stopped', 45_000)));
        for (const child of survivors) child.send('view');
        const views = await Promise.all(survivors.map(async (child) => (await child.line<{ view: Array<[number, string]> }>((line) => 'view' in line, 'view')).view));
        const fresh = await openHost(await roots.make('fresh'), place, 'fresh');
        const freshView = await memoryTexts(fresh);
        await fresh.close();
        for (const child of survivors) child.send('close');
        await Promise.all(survivors.map((child) => child.line((line) => line.closed === true, 'closed')));
        for (const child of survivors) expect(await child.exited, `host ${child.name} ends after closing its store`).toBe(0);

        const model = expectations([{ name: 'setup', lines: [{ ack: 'append', ids: [setupId], texts: [setupText] }] }, ...children]);
        expect(model.problems).toEqual([]);
        expect(model.duplicateIds).toEqual([]);
        expect(model.failures.filter((failure) => !EXPECTED_FAILURES.has(String(failure.code)))).toEqual([]);
        // Not vacuous: writes of every kind were acknowledged, texts beyond a block among them.
        const all = children.flatMap((child) => child.lines);
        for (const kind of ['append', 'update', 'delete']) expect(all.filter((line) => line.ack === kind).length).toBeGreaterThan(5);
        expect(all.filter((line) => line.ack === 'append' && (line.ids as number[]).length > 1).length).toBeGreaterThan(0);

        // Every host reads what the fresh one reads (texts of every size included).
        for (const [i, view] of views.entries()) expect(view, `the view of host ${survivors[i]!.name}`).toEqual(freshView);
        const live = new Map(freshView);
        expect([...live.values()].some((text) => text.length > 64 * 1024)).toBe(true);
        // Ids are unique (a map keyed by id held them all), and no try was applied twice.
        expect(live.size).toBe(freshView.length);
        expect(new Set(freshView.map(([, text]) => text)).size).toBe(freshView.length);

        // Each acknowledged memory is as its last acknowledged write left it (or, for the host killed,
        // as a write under way at the kill may have left it); each acknowledged deletion holds.
        const { wrong, unsettled, unexplained } = compareWithModel(model, freshView, new Set(['c']));
        expect(wrong).toEqual([]);
        expect(unsettled).toEqual([]);
        expect(unexplained).toEqual([]);
        // What happened, for the record (nothing asserted on it: a restart may or may not catch a write in flight).
        const byCode = new Map<string, number>();
        for (const failure of model.failures) byCode.set(`${String(failure.op)} ${String(failure.code)}`, (byCode.get(`${String(failure.op)} ${String(failure.code)}`) ?? 0) + 1);
        console.info(`[store-hosts] ${model.memories.size} memories acknowledged, ${live.size} live at the end (${freshView.filter(([id]) => !model.memories.has(id)).length} of them never acknowledged); failed tries: ${JSON.stringify(Object.fromEntries(byCode))}; reopened: ${all.filter((line) => 'reopened' in line).length}; reads that failed: ${all.filter((line) => 'readFailed' in line).length}`);
      } finally {
        for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
        await Promise.all(children.map((child) => child.exited));
        await roots.removeAll();
      }
    }, 120_000);
  });
}
