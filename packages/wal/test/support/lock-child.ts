// A child process for the lock tests: opens files and locks them through the lock binding, as told on stdin.
import { closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadLockBinding } from '../../src/lock-binding.js';

const locks = loadLockBinding();
const fds = new Map<string, number>();
const reply = (message: { ok?: unknown; error?: string }) => process.stdout.write(`${JSON.stringify(message)}\n`);
const fd = (name: string) => {
  const found = fds.get(name);
  if (found === undefined) throw new Error(`no descriptor ${name}`);
  return found;
};

reply({ ok: 'ready' });
for await (const line of createInterface({ input: process.stdin })) {
  const [command, name = '', argument = ''] = line.split(' ');
  try {
    if (command === 'open') fds.set(name, openSync(argument, 'r+'));
    else if (command === 'try') {
      reply({ ok: locks.tryLock(fd(name), argument as 'shared' | 'exclusive') });
      continue;
    } else if (command === 'unlock') locks.unlock(fd(name));
    else if (command === 'close') {
      closeSync(fd(name));
      fds.delete(name);
    } else throw new Error(`unknown command ${line}`);
    reply({ ok: true });
  } catch (error) {
    reply({ error: `${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}` });
  }
}
