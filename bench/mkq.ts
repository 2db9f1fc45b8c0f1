import { writeFileSync } from 'node:fs';
import { syntheticMemories } from './src/synthetic-memories.js';
const size = Number(process.argv[2]);
const memories = [...syntheticMemories(size)];
let state = 7;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const tags = ['preference', 'fact', 'task', 'person', 'project', 'meeting', 'error', 'plan'];
const queries = Array.from({ length: 200 }, (_, i) => {
  const words = Array.from({ length: 1 + (i % 2) }, () => {
    const text = memories[Math.floor(random() * memories.length)]!.text.split(' ');
    return text[Math.floor(random() * text.length)]!;
  });
  const match = words.map((word, w) => `"${word}"${w === words.length - 1 ? '*' : ''}`).join(' OR ');
  return { text: words.join(' '), match, ...(i % 4 >= 2 ? { tag: tags[Math.floor(random() * tags.length)] } : {}) };
});
writeFileSync(`/tmp/q${size}.json`, JSON.stringify(queries));
console.log(queries[0]);
