import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempStore } from './support/temp-store.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const storeOf = useTempStore('examples');

/** Runs `examples/<name>.ts` with `args`, as its script in examples/package.json does. */
function runExample(name: string, ...args: string[]) {
  return spawnSync(process.execPath, ['--conditions=dev-source', '--import', tsx, join(examples, `${name}.ts`), ...args], { cwd: examples, encoding: 'utf8', timeout: 50_000 });
}

describe('the examples', () => {
  it('each takes the store\'s folder as its last argument, as examples/README.md says', { timeout: 120_000 }, () => {
    for (const name of ['quick-start', 'shared-state']) {
      const { dir } = storeOf();
      const folder = join(dir, name);
      const result = runExample(name, folder);
      expect(result.status, `${name}: ${result.stderr}`).toBe(0);
      expect(existsSync(join(folder, 'state.wal')), name).toBe(true);
    }
  });
});
