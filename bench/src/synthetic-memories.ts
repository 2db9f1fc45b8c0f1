/** A synthetic agent memory, as the lifecycle benchmark writes them into each store. */
export interface SyntheticMemory {
  text: string;
  tags: string[];
  namespace: string;
  meta: { source: string; turn: number };
}

/** mulberry32: the same memories on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const syllables = ['ka', 'lo', 'mi', 're', 'su', 'ta', 'ne', 'po', 'vi', 'da', 'gu', 'shi', 'ro', 'me', 'la', 'zu', 'fe', 'ni', 'bo', 'te'];
const tags = ['preference', 'fact', 'task', 'person', 'project', 'meeting', 'error', 'plan'];

/**
 * `count` memories of 20 to 60 words drawn from a vocabulary of 3,000 made-up words with a skewed
 * (Zipf-like) frequency, as text an agent writes: a few words are common, most are rare.
 */
export function* syntheticMemories(count: number, seed = 42): Generator<SyntheticMemory> {
  const random = seeded(seed);
  const vocabulary = Array.from({ length: 3000 }, () => Array.from({ length: 2 + Math.floor(random() * 3) }, () => syllables[Math.floor(random() * syllables.length)]).join(''));
  const word = () => vocabulary[Math.floor(vocabulary.length * random() ** 3)]!;
  for (let i = 0; i < count; i++) {
    const words = 20 + Math.floor(random() * 41);
    yield {
      text: Array.from({ length: words }, word).join(' '),
      tags: [tags[Math.floor(random() * tags.length)]!],
      namespace: `agent-${Math.floor(random() * 10)}`,
      meta: { source: 'chat', turn: i },
    };
  }
}
