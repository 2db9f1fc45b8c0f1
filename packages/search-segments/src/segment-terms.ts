/**
 * Keys of the terms a segment indexes. Words are stored as they are; a memory's tags and its namespace
 * are terms too (exact, not tokenized), under a prefix no word begins with, so that filters are read
 * from the index like words are.
 */
const LABEL = '\u0001';

/** The term of tag `tag`. */
export function tagTerm(tag: string): string {
  return `${LABEL}t:${tag}`;
}

/** The term of namespace `namespace`. */
export function namespaceTerm(namespace: string): string {
  return `${LABEL}n:${namespace}`;
}
