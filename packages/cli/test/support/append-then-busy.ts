// A process that appends TEXT to a store (into a chunk file of its own), prints {"id":n}, then keeps its
// event loop busy for MS milliseconds (it catches up with nothing meanwhile, nor lets go of anything
// another process asks back), then closes the store.
import { MemMapFS } from '@memmapfs/core';

const [root, text, ms] = process.argv.slice(2);
const fs = await MemMapFS.init(root!);
const id = await fs.appendMemory(text!);
process.stdout.write(`${JSON.stringify({ id })}\n`);
await new Promise((resolve) => setTimeout(resolve, 50));
const until = Date.now() + Number(ms);
while (Date.now() < until);
await fs.close();
