import type { MemMapFS } from '@memmapfs/core';

/**
 * A view of an open store whose synchronous KV reads (`getKv`, `listKv`) see the keys as they were at
 * its last `catchUp()`, and its own writes: as a store on a log hosts share reads what has arrived,
 * milliseconds behind another host's writes, until `catchUp()`. Everything else is the store's own.
 */
export function laggingStore(store: MemMapFS): MemMapFS {
  let seen = new Map<string, unknown>();
  const look = () => {
    seen = new Map(store.listKv().map((key) => [key, store.getKv(key)]));
  };
  look();
  return new Proxy(store, {
    get(target, name, receiver) {
      switch (name) {
        case 'getKv':
          return (key: string) => structuredClone(seen.get(key));
        case 'listKv':
          return (options: { prefix?: string } = {}) => [...seen.keys()].filter((key) => key.startsWith(options.prefix ?? '')).sort();
        case 'catchUp':
          return async () => {
            await target.catchUp();
            look();
          };
        case 'setKv':
        case 'setKvs':
        case 'deleteKv':
          return async (...args: unknown[]) => {
            const result = await (target[name] as (...a: unknown[]) => Promise<unknown>)(...args);
            look();
            return result;
          };
        default: {
          const value = Reflect.get(target, name, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        }
      }
    },
  });
}
