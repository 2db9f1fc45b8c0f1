import { beforeEach } from 'vitest';

// Warnings the store gives on purpose (`MEMMAPFS_*`: damaged files, injected faults, missing bindings)
// are what many tests provoke, and would read like failures in the run's output. They are held per test
// and printed only when the test fails; every other warning goes to Node's own printing as usual.
const held: string[] = [];
const printing = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string }) => {
  if (typeof warning.code === 'string' && warning.code.startsWith('MEMMAPFS_')) held.push(`(${warning.code}) ${warning.message}`);
  else for (const print of printing) print(warning);
});

beforeEach(({ onTestFailed }) => {
  held.length = 0;
  onTestFailed(() => {
    if (held.length > 0) console.error(`Warnings of the store during this test:\n${held.join('\n')}`);
  });
});
