export { createMcpServer } from './server.js';
export type { MemMapMcpServer } from './server.js';
export { serveStdio } from './stdio.js';
export type { StdioServeOptions } from './stdio.js';
export { stateResourceUri } from './state-resource.js';
export { pageLimits } from './limits.js';
export type { ToolFailureCode } from './tool-errors.js';
