export { codecSuite } from './codec-suite.js';
export { cosine, seededRandom } from './vector-model.js';
export type { CodecSuiteOptions } from './codec-suite.js';
export { searchProviderSuite } from './search-provider-suite.js';
export type { SearchProviderSuiteOptions, SearchProviderSuiteSection } from './search-provider-suite.js';
export { writeAheadLogSuite } from './write-ahead-log-suite.js';
export type { WalPlace, WriteAheadLogSuiteOptions } from './write-ahead-log-suite.js';
export { blockStoreSuite } from './block-store-suite.js';
export type { BlockPlace, BlockStoreSuiteOptions } from './block-store-suite.js';
