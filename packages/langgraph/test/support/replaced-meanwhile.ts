import type { MemMapFS } from '@memmapfs/core';

/**
 * Has `fs.method` (a read a search makes) run `replace` once after it read and before its caller sees
 * what it read, each time `arm()` is called: as if another process replaced an item just then.
 * `restore()` puts the method back; `armed()` says whether the last `arm` is still waiting.
 */
export function replacedMeanwhile(fs: MemMapFS, method: 'listMemories' | 'queryMemory'): { arm(replace: () => Promise<unknown>): void; armed(): boolean; restore(): void } {
  const read = (fs[method] as (...args: unknown[]) => Promise<unknown>).bind(fs);
  let pending: (() => Promise<unknown>) | undefined;
  (fs as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    const result = await read(...args);
    const replace = pending;
    pending = undefined;
    if (replace) await replace();
    return result;
  };
  return {
    arm: (replace) => (pending = replace),
    armed: () => pending !== undefined,
    restore: () => ((fs as unknown as Record<string, unknown>)[method] = read),
  };
}
