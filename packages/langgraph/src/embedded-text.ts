import { tokenizePath } from './indexed-text.js';

/**
 * The texts at `path` in a value that `index` embeds, as LangGraph's `InMemoryStore` takes them: `'$'`
 * is the whole value as JSON; a string, number or boolean is its text; an object or array is its JSON
 * (indented by 2, as LangGraph does); `null` and missing fields give nothing. `[*]` and `*` give one
 * text per element, `[n]` and `[-n]` one element, `{a,b.c}` (at the end of a path) several fields.
 */
export function textsAtPath(value: unknown, path: string): string[] {
  if (path === '$' || path.length === 0) return [json(value)];
  return textsAt(value, tokenizePath(path));
}

function textsAt(value: unknown, tokens: readonly string[]): string[] {
  if (tokens.length === 0) return textOf(value);
  const [token, ...rest] = tokens as [string, ...string[]];
  if (token.startsWith('[') && token.endsWith(']')) {
    if (!Array.isArray(value)) return [];
    const index = token.slice(1, -1);
    if (index === '*') return value.flatMap((item) => textsAt(item, rest));
    const n = Number.parseInt(index, 10);
    const at = n < 0 ? value.length + n : n;
    return Number.isNaN(n) || at < 0 || at >= value.length ? [] : textsAt(value[at], rest);
  }
  if (typeof value !== 'object' || value === null) return [];
  if (token.startsWith('{') && token.endsWith('}')) {
    return token.slice(1, -1).split(',').map((field) => field.trim()).filter(Boolean).flatMap((field) => textsAt(value, tokenizePath(field)));
  }
  if (token === '*') return Object.values(value).flatMap((item) => textsAt(item, rest));
  return Object.prototype.hasOwnProperty.call(value, token) ? textsAt((value as Record<string, unknown>)[token], rest) : [];
}

function textOf(value: unknown): string[] {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  if (typeof value === 'object' && value !== null) return [json(value)];
  return [];
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? '';
}
