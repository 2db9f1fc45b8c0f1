import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const readme = join(here, '../../../README.md');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('the README', () => {
  it('its first code block runs to completion as pasted, in a new folder and again in the same one', { timeout: 60_000 }, async () => {
    const block = /```ts\n([\s\S]*?)```/.exec(await readFile(readme, 'utf8'))?.[1];
    expect(block).toContain("from '@memmapfs/core'");
    const folder = await mkdtemp(join(tmpdir(), 'memmapfs-readme-'));
    try {
      // An ES module project whose packages are this workspace's.
      await writeFile(join(folder, 'package.json'), '{ "type": "module" }\n');
      await symlink(join(here, '../node_modules'), join(folder, 'node_modules'), 'dir');
      await writeFile(join(folder, 'first.ts'), block!);
      for (let run = 1; run <= 2; run++) {
        const result = spawnSync(process.execPath, ['--conditions=dev-source', '--import', tsx, 'first.ts'], { cwd: folder, encoding: 'utf8', timeout: 50_000 });
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(result.stdout).toBe('user-42/ui The user prefers dark mode\nready\n');
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
