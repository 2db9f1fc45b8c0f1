/**
 * The text of an item that full-text search reads: the strings, numbers and booleans found at each of
 * `fields` in the value (the paths LangGraph's `index` takes: `title`, `author.name`, `chapters[*].text`,
 * `sections[-1]`, `{title,summary}`, `*`), one per line. `'$'` is the whole value: every string, number
 * and boolean in it, not its field names.
 */
export function indexedText(value: Record<string, unknown>, fields: readonly string[]): string {
  const texts: string[] = [];
  for (const field of fields) texts.push(...textsAt(value, field === '$' ? [] : tokenizePath(field)));
  return texts.join('\n');
}

/**
 * `text`, or its beginning of at most `maxBytes` bytes of UTF-8 (never half a character): the part of a
 * value's strings that full-text search reads, when they pass the store's text limit together.
 */
export function textWithin(text: string, maxBytes: number): string {
  // (A UTF-16 code unit is at most 3 bytes of UTF-8: most texts are told apart without encoding them.)
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back to the first byte of the character the limit cuts (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** `title`, `a.b`, `items[*]`, `items[0]`, `items[-1]`, `{a,b.c}`, `*` → its parts. */
export function tokenizePath(path: string): string[] {
  const tokens: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i]!;
    if (char === '[' || char === '{') {
      if (current) tokens.push(current);
      const close = char === '[' ? ']' : '}';
      const end = path.indexOf(close, i);
      const stop = end === -1 ? path.length : end + 1;
      tokens.push(path.slice(i, stop));
      current = '';
      i = stop - 1;
    } else if (char === '.') {
      if (current) tokens.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (current) tokens.push(current);
  return tokens;
}

function textsAt(value: unknown, tokens: readonly string[]): string[] {
  if (tokens.length === 0) return leaves(value);
  const [token, ...rest] = tokens as [string, ...string[]];
  if (token.startsWith('[') && token.endsWith(']')) {
    if (!Array.isArray(value)) return [];
    const index = token.slice(1, -1);
    if (index === '*') return value.flatMap((item) => textsAt(item, rest));
    const n = Number.parseInt(index, 10);
    if (Number.isNaN(n)) return [];
    const at = n < 0 ? value.length + n : n;
    return at >= 0 && at < value.length ? textsAt(value[at], rest) : [];
  }
  if (!isObject(value)) return [];
  if (token.startsWith('{') && token.endsWith('}')) {
    return token.slice(1, -1).split(',').map((field) => field.trim()).filter(Boolean).flatMap((field) => textsAt(value, [...tokenizePath(field), ...rest]));
  }
  if (token === '*') return Object.values(value).flatMap((item) => textsAt(item, rest));
  return Object.prototype.hasOwnProperty.call(value, token) ? textsAt(value[token], rest) : [];
}

/**
 * Every string, number and boolean in a value, depth first. A part that contains itself (a cycle) is
 * not walked again: the store refuses such a value with its own message when it is written.
 */
function leaves(value: unknown, ancestors: object[] = []): string[] {
  if (typeof value === 'string') return value.length > 0 ? [value] : [];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  if (!Array.isArray(value) && !isObject(value)) return [];
  if (ancestors.includes(value)) return [];
  ancestors.push(value);
  const found = (Array.isArray(value) ? value : Object.values(value)).flatMap((item: unknown) => leaves(item, ancestors));
  ancestors.pop();
  return found;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
