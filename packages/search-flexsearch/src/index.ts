import { flexsearch } from './flexsearch-provider.js';

export { flexsearch };
export type { FlexSearchProviderOptions, FlexSearchTokenize } from './flexsearch-provider.js';

/** The flexsearch provider factory; `MemMapFS.init(root, { search: 'flexsearch' })` loads it by name. */
export default flexsearch;
