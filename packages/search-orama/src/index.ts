import { orama } from './orama-provider.js';

export { orama };
export type { OramaProviderOptions } from './orama-provider.js';

/** The Orama provider factory; `MemMapFS.init(root, { search: 'orama' })` loads it by name. */
export default orama;
