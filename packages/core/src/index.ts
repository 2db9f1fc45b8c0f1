export { MemMapFS } from './memmapfs.js';
export { distinctWithLastLast, queryWords, unicodeWords, wordTokens } from './word-tokens.js';
export { MemMapError, errorCodes } from './errors.js';
export type { MemMapErrorCode, MemMapErrorOptions, Subsystem } from './errors.js';
export type { Codec } from './contracts/codec.js';
export { maxStorableDepth, memberPathText, toStorableValue } from './storable-value.js';
export type { StorableValue } from './storable-value.js';
export type { GuardedFileHolds, JsonValue, SearchDocument, SearchHit, SearchIndexOpenOptions, SearchProvider, SearchProviderSpec, SearchProviderSupports, SearchRequest } from './contracts/search-provider.js';
export { registerCodec, registerSearchProvider, resolveCodec, resolveSearchProvider } from './registry/provider-registry.js';
export { adapterOptionError, checkAdapterOptions } from './registry/adapter-options.js';
export type { CborCodecOptions, FlexSearchProviderOptions, FlexSearchTokenize, MsgpackCodecOptions, OramaProviderOptions, SegmentSearchOptions } from './registry/builtin-options.js';
export type {
  AdapterOptions, CodecFactory, CodecName, CodecOption, Codecs, SearchOption, SearchProviderFactory, SearchProviderName, SearchProviders,
} from './registry/provider-registry.js';
export type {
  AgentState, AppendMemoryOptions, DeleteKvOptions, DeleteMemoryOptions, Durability, ListMemoriesOptions, ListNamespacesOptions, Memory, MemoryPage, NewMemory, MemoryHit, MemoryUpdate, MemoryVersion, MemMapFSOptions, QueryMemoryOptions, RestoredMemory, SetKvOptions, SetKvsOptions, SetKvsResult, StoreFileSystem, StoreStats,
} from './types.js';
export { verifyStore } from './maintenance/store-check.js';
export type { StoreCheckOptions, StoreProblem, StoreProblemKind, VerifyReport } from './maintenance/store-check.js';
export { repairStore } from './maintenance/store-repair.js';
export type { RepairOptions, RepairReport } from './maintenance/store-repair.js';
export type { CompactionReport, CompactionStep, CompactOptions } from './engine/compaction.js';
export type { WalOpener } from '@memmapfs/wal';
export type { FieldOperators, MemoryConditions, MetaFilter, TimeRange } from './memory-filter.js';
export type { ListKeysOptions, ListKvOptions, ListStreamsOptions } from './key-listing.js';
export { NAMESPACE_SEPARATOR } from './namespace-path.js';
export type { Namespace } from './namespace-path.js';
