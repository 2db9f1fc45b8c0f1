import type { RunnableConfig } from '@langchain/core/runnables';
import { getCheckpointId } from '@langchain/langgraph-checkpoint';
import { describeValue, invalidArgument } from './adapter-errors.js';

/** `thread_id`, or `undefined` when absent; anything but a non-empty string is refused. */
export function threadIdOf(config: RunnableConfig, method: string): string | undefined {
  const threadId: unknown = config.configurable?.thread_id;
  if (threadId === undefined) return undefined;
  if (typeof threadId !== 'string' || threadId.length === 0) {
    throw invalidArgument(method, `config.configurable.thread_id must be a non-empty string, got ${describeValue(threadId)}.`);
  }
  return threadId;
}

/** `thread_id`, which the method needs: a missing one says how to pass it. */
export function requiredThreadIdOf(config: RunnableConfig, method: string): string {
  const threadId = threadIdOf(config, method);
  if (threadId === undefined) {
    throw invalidArgument(method, 'config.configurable.thread_id is missing: a checkpointer keeps state per thread, so pass one, e.g. graph.invoke(input, { configurable: { thread_id: "my-thread" } }).');
  }
  return threadId;
}

/** `checkpoint_ns`, `''` (the root graph's namespace) when absent. */
export function namespaceOf(config: RunnableConfig, method: string): string {
  return optionalNamespaceOf(config, method) ?? '';
}

/** `checkpoint_ns`, or `undefined` when absent (for `list`, where absent means every namespace). */
export function optionalNamespaceOf(config: RunnableConfig, method: string): string | undefined {
  const ns: unknown = config.configurable?.checkpoint_ns;
  if (ns !== undefined && typeof ns !== 'string') throw invalidArgument(method, `config.configurable.checkpoint_ns must be a string, got ${describeValue(ns)}.`);
  return ns;
}

/** `checkpoint_id` (or the older `thread_ts`), or `undefined` when absent or empty. */
export function checkpointIdOf(config: RunnableConfig, method: string): string | undefined {
  const id: unknown = getCheckpointId(config);
  if (id === '' || id === undefined || id === null) return undefined;
  if (typeof id !== 'string') throw invalidArgument(method, `config.configurable.checkpoint_id must be a string, got ${describeValue(id)}.`);
  return id;
}
