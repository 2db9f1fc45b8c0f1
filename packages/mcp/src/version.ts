import { createRequire } from 'node:module';

/** The version of `@memmapfs/mcp`, from its package.json (one folder up from both `src` and `dist`). */
export const mcpVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
