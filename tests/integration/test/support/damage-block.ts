import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Flips a bit of the block holding `text` in its chunk file of the store at `root`. */
export async function damageBlock(root: string, text: string): Promise<void> {
  for (const name of await readdir(join(root, 'blocks'))) {
    const bytes = await readFile(join(root, 'blocks', name));
    const at = bytes.indexOf(text);
    if (at >= 0) {
      bytes[at + 2]! ^= 0x20;
      await writeFile(join(root, 'blocks', name), bytes);
      return;
    }
  }
  throw new Error(`no block holds ${text}`);
}
