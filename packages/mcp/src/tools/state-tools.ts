import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AgentState, MemMapFS } from '@memmapfs/core';
import { z } from 'zod';
import { toJsonObject } from '../json-value.js';
import { maxResultBytes } from '../limits.js';
import { stateResourceUri } from '../state-resource.js';
import { runTool } from '../tool-errors.js';
import { checkToolValue, jsonObject, toolInput } from './fields.js';

/** The agent state as the tools take and return it: the four fields every state has, and any of your own. */
const stateFields = {
  status: z.string().describe('Free-form status, e.g. "idle", "running", "waiting for user"'),
  activeMemoryCount: z.number().describe('The number of memories the agent considers active (its own count)'),
  lastUpdatedId: z.number().describe('The id of the memory the agent last touched'),
  extra: z.record(z.string(), z.unknown()).describe('Anything else, as a JSON object'),
};

const stateOutput = z.object(stateFields).catchall(z.unknown());

/** What `update_state` takes: any of the fields, and fields of your own. */
const stateChanges = z.object({
  status: stateFields.status.optional(),
  activeMemoryCount: stateFields.activeMemoryCount.optional(),
  lastUpdatedId: stateFields.lastUpdatedId.optional(),
  extra: jsonObject('state.extra', 'Anything else, as a JSON object: replaces the current extra whole').optional(),
}).catchall(z.unknown()).describe('The fields to change; fields of your own are kept too');
/** Its JSON Schema, for clients (without the document's `$schema`: it is one property's). */
const { $schema: _documentSchema, ...stateChangesSchema } = z.toJSONSchema(stateChanges, { io: 'input' });

/** Registers `get_state` and `update_state`, over the same agent state as the `memmapfs://state` resource. */
export function registerStateTools(server: McpServer, store: MemMapFS): void {
  server.registerTool('get_state', {
    title: 'Get the agent state',
    description: `Read the agent state shared by every agent using this store (also the resource ${stateResourceUri}, which clients can subscribe to).`,
    inputSchema: toolInput({}),
    outputSchema: { state: stateOutput },
    annotations: { readOnlyHint: true },
  }, () => runTool('get_state', async () => {
    // (Every write that resolved before, on any host of a store on PostgreSQL too.)
    await store.catchUp();
    return { state: toJsonObject(store.getState()) };
  }));

  server.registerTool('update_state', {
    title: 'Update the agent state',
    description: 'Change the shared agent state: the fields given replace the current ones (extra is replaced whole), the others keep their values. Every agent subscribed to the state is told. Returns the new state.',
    inputSchema: toolInput({
      // (Checked against the fields, but handed on as sent: a copy would silently lose a key named
      // `__proto__`, which core refuses with a message instead.)
      state: jsonObject('state', 'The fields to change; fields of your own are kept too')
        .superRefine((value, context) => {
          const checked = stateChanges.safeParse(value);
          if (!checked.success) for (const issue of checked.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
        })
        .meta(stateChangesSchema),
    }),
    outputSchema: { state: stateOutput },
    annotations: { idempotentHint: true },
  }, ({ state }) => runTool('update_state', async () => {
    checkToolValue(state, 'update_state', 'state');
    const changes = Object.fromEntries(Object.entries(state).filter(([, value]) => value !== undefined));
    // The state as it would be, before anything is written: get_state (and this call's result) must
    // return it in one message.
    await store.catchUp();
    checkToolValue(toJsonObject({ ...store.getState(), ...changes }), 'update_state', 'the state with these changes', maxResultBytes - 4096);
    // Merged under the writer lock: another process changing other fields at the same moment keeps them.
    const next = await store.mergeState(changes as Partial<AgentState>);
    return { state: toJsonObject(next) };
  }));
}
