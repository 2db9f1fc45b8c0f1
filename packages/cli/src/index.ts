export { runCli } from './run-cli.js';
export type { CliIo } from './run-cli.js';
export type { InputStream } from './command.js';
export type { TextSink } from './output.js';
export { defaultRoot } from './open-store.js';
export { argumentBytes } from './argument-bytes.js';
