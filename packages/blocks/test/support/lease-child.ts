// A child process for the lease tests: takes and releases leases (`tryLeaseFile`) as told on stdin.
import { createInterface } from 'node:readline';
import { tryLeaseFile, type FileLease } from '../../src/file-lease.js';

const leases = new Map<string, FileLease>();
const reply = (message: { ok?: unknown; error?: string }) => process.stdout.write(`${JSON.stringify(message)}\n`);

reply({ ok: 'ready' });
for await (const line of createInterface({ input: process.stdin })) {
  const [command, name = '', mode = '', path = ''] = line.split(' ');
  try {
    if (command === 'lease') {
      const lease = await tryLeaseFile(path, mode as 'shared' | 'exclusive');
      if (typeof lease === 'string') reply({ ok: lease });
      else {
        leases.set(name, lease);
        reply({ ok: 'held' });
      }
    } else if (command === 'release') {
      await leases.get(name)?.release();
      leases.delete(name);
      reply({ ok: true });
    } else throw new Error(`unknown command ${line}`);
  } catch (error) {
    reply({ error: `${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}` });
  }
}
