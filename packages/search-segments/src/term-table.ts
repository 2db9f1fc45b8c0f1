/**
 * The terms of an in-memory segment, numbered in the order they were first seen. A word of ASCII text
 * is looked up where it lies in the text (`findAscii`), case-folded as it is compared: the words an
 * agent repeats cost no string of their own, only the first time a word is seen does.
 */
export class TermTable {
  private readonly terms: string[] = [];
  private hashes = new Int32Array(1024);
  /** Open addressing: term id + 1 at the slot of its hash (linear probing), 0 where empty. */
  private slots = new Int32Array(2048);

  /** Terms, by id. */
  get size(): number {
    return this.terms.length;
  }

  term(id: number): string {
    return this.terms[id]!;
  }

  /** Every term, by id. */
  all(): readonly string[] {
    return this.terms;
  }

  /** The id of `term`, which is added if it is new. */
  intern(term: string): number {
    const hash = hashString(term);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return this.insert(term, hash, slot);
      if (this.hashes[entry - 1] === hash && this.terms[entry - 1] === term) return entry - 1;
    }
  }

  /** The id of `term`, or -1. */
  find(term: string): number {
    const hash = hashString(term);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return -1;
      if (this.hashes[entry - 1] === hash && this.terms[entry - 1] === term) return entry - 1;
    }
  }

  /**
   * The id of the word `text[start, end)` lower-cased, which is added if it is new. `hash` is
   * `hashString` of the lower-cased word, and the word holds only ASCII letters and digits.
   */
  internAscii(text: string, start: number, end: number, hash: number): number {
    const mask = this.slots.length - 1;
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return this.insert(text.slice(start, end).toLowerCase(), hash, slot);
      if (this.hashes[entry - 1] !== hash) continue;
      const term = this.terms[entry - 1]!;
      if (term.length !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++) {
        let c = text.charCodeAt(start + i);
        if (c >= 65 && c <= 90) c += 32;
        if (c !== term.charCodeAt(i)) {
          same = false;
          break;
        }
      }
      if (same) return entry - 1;
    }
  }

  private insert(term: string, hash: number, slot: number): number {
    const id = this.terms.length;
    this.terms.push(term);
    if (id === this.hashes.length) {
      const grown = new Int32Array(id * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[id] = hash;
    this.slots[slot] = id + 1;
    // At most half full: probes stay short.
    if (this.terms.length * 2 > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.terms.length; id++) {
      let slot = this.hashes[id]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }
}

/** FNV-1a over UTF-16 code units: the hash `TermTable` files a term under. */
export function hashString(text: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), FNV_PRIME);
  return hash;
}

/** `hashString`'s starting value, and what each code unit is multiplied by. */
export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;
