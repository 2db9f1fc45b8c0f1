export { codecSuite } from './codec-suite.js';
export type { CodecSuiteOptions } from './codec-suite.js';
export { searchProviderSuite } from './search-provider-suite.js';
export type { SearchProviderSuiteOptions, SearchProviderSuiteSection } from './search-provider-suite.js';
