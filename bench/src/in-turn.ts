import { seconds } from './timing.js';

/**
 * Durable changes of SQLite and of ours, measured in turn: the disk's commits take longer at some minutes
 * than at others on a shared machine (about twice, from one ten-minute window to the next), and both
 * sides wait on them. `count` changes on each side, in `blocks` blocks taken in turn (SQLite first in the
 * even blocks, ours first in the odd); each side's seconds, summed. Without `withSqlite`, ours alone.
 */
export async function inTurn(
  count: number,
  blocks: number,
  sqliteBlock: (from: number, to: number) => void,
  oursBlock: (from: number, to: number) => Promise<void>,
  withSqlite = true,
): Promise<{ ours: number; sqlite: number }> {
  let ours = 0;
  let sqlite = 0;
  for (let block = 0; block < blocks; block++) {
    const from = Math.floor((block * count) / blocks);
    const to = Math.floor(((block + 1) * count) / blocks);
    const runSqlite = async () => {
      if (withSqlite) sqlite += await seconds(() => sqliteBlock(from, to));
    };
    if (block % 2 === 0) await runSqlite();
    ours += await seconds(() => oursBlock(from, to));
    if (block % 2 === 1) await runSqlite();
  }
  return { ours, sqlite };
}
