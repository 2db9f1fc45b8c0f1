// Two processes, one folder, no server: this process watches the agent state while a worker process it
// starts appends memories and reports progress through the state. Run: pnpm --filter @memmapfs/examples shared-state
import { fork } from 'node:child_process';
import { MemMapFS } from '@memmapfs/core';

// (Run by hand: `shared-state.ts [folder]`; the worker it starts: `shared-state.ts worker folder`.)
const isWorker = process.argv[2] === 'worker';
const root = (isWorker ? process.argv[3] : process.argv[2]) ?? '.memmap_fs_root';

if (isWorker) {
  const fs = await MemMapFS.init(root);
  for (let step = 1; step <= 3; step++) {
    const id = await fs.appendMemory(`worker ${process.pid} finished step ${step}`, ['worker']);
    await fs.updateState({ status: step < 3 ? 'working' : 'done', activeMemoryCount: step, lastUpdatedId: id, extra: { step } });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await fs.close();
} else {
  const fs = await MemMapFS.init(root);
  const worker = fork(new URL(import.meta.url).pathname, ['worker', root], { execArgv: process.execArgv });
  for await (const state of fs.watchState()) {
    const memory = await fs.getMemory(state.lastUpdatedId);
    console.log(`state from the worker: ${state.status} (step ${String(state.extra.step)}) — latest memory: "${memory?.text}"`);
    if (state.status === 'done') break;
  }
  await new Promise((resolve) => worker.on('exit', resolve));
  console.log(`${fs.stats().memories} memories in ${fs.root}, written by another process and read here`);
  await fs.close();
}
