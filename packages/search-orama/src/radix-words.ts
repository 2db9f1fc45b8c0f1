/** A node of Orama's radix tree of indexed words (`RadixNode`), as far as a search reads it. */
export interface WordNode {
  /** The word this node ends, if `e`. */
  readonly w: string;
  /** Whether a word ends here. */
  readonly e: boolean;
  /** The part of the word this node adds to its parent's. */
  readonly s: string;
  /** The children, by their first character. */
  readonly c: ReadonlyMap<string, WordNode>;
  /** The memories (Orama's internal ids) holding the word. */
  readonly d: ReadonlySet<number>;
}

/** The nodes of the words `word` matches: itself (or within `tolerance` edits), and those it begins when `asPrefix`. */
export function matchingWords(root: WordNode, word: string, asPrefix: boolean, tolerance: number): Set<WordNode> {
  const found = new Set<WordNode>();
  if (tolerance > 0) for (const node of wordsWithin(root, word, tolerance)) found.add(node);
  const node = nodeAt(root, word);
  if (node === undefined) return found;
  if (!asPrefix) {
    if (node.e && node.w === word && node.d.size > 0) found.add(node);
    return found;
  }
  const stack = [node];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (next.e && next.d.size > 0) found.add(next);
    for (const child of next.c.values()) stack.push(child);
  }
  return found;
}

/** The node below which every word begins with `word` (the word itself, if indexed); `undefined` if there is none. */
function nodeAt(root: WordNode, word: string): WordNode | undefined {
  let node = root;
  let i = 0;
  while (i < word.length) {
    const child = node.c.get(word[i]!);
    if (child === undefined) return undefined;
    const edge = child.s;
    let j = 0;
    while (j < edge.length && i + j < word.length && edge[j] === word[i + j]) j++;
    if (i + j === word.length) return child;
    if (j < edge.length) return undefined;
    node = child;
    i += j;
  }
  return node;
}

/**
 * The nodes of the indexed words within `tolerance` edits (Levenshtein distance) of `word`, found by
 * walking the radix tree with one row of the edit-distance table per character, cut off where no
 * word below can be close enough. Only the `2 * tolerance + 1` cells of a row that can be within
 * `tolerance` are kept, so a long query word costs no more than a short one.
 */
export function wordsWithin(root: WordNode, word: string, tolerance: number): WordNode[] {
  const found: WordNode[] = [];
  const width = 2 * tolerance + 1;
  // Row at depth 0: cell k stands for the first k - tolerance characters of `word`.
  const first = new Int32Array(width);
  for (let k = 0; k < width; k++) {
    const j = k - tolerance;
    first[k] = j >= 0 && j <= word.length ? j : tolerance + 1;
  }
  const stack: Array<{ node: WordNode; depth: number; row: Int32Array }> = [];
  for (const child of root.c.values()) stack.push({ node: child, depth: 0, row: first });
  while (stack.length > 0) {
    const { node, depth: start, row: startRow } = stack.pop()!;
    let row = startRow;
    let depth = start;
    let reachable = true;
    for (let i = 0; i < node.s.length; i++) {
      row = nextRow(row, ++depth, node.s[i]!, word, tolerance);
      if (Math.min(...row) > tolerance) {
        reachable = false;
        break;
      }
    }
    if (!reachable) continue;
    const last = word.length - depth + tolerance;
    if (node.e && node.d.size > 0 && last >= 0 && last < width && row[last]! <= tolerance) found.push(node);
    for (const child of node.c.values()) stack.push({ node: child, depth, row });
  }
  return found;
}

/** The row at `depth` (word characters read) from the one above, after reading `character`. */
function nextRow(above: Int32Array, depth: number, character: string, word: string, tolerance: number): Int32Array {
  const width = above.length;
  const row = new Int32Array(width);
  const far = tolerance + 1;
  for (let k = 0; k < width; k++) {
    const j = depth - tolerance + k;
    if (j < 0 || j > word.length) {
      row[k] = far;
    } else if (j === 0) {
      row[k] = depth;
    } else {
      const replace = above[k]! + (word[j - 1] === character ? 0 : 1);
      const skipCharacter = k + 1 < width ? above[k + 1]! + 1 : far;
      const skipWordCharacter = k > 0 ? row[k - 1]! + 1 : far;
      row[k] = Math.min(replace, skipCharacter, skipWordCharacter, far);
    }
  }
  return row;
}
