import { writeFileSync, appendFileSync } from 'node:fs';
import { syntheticMemories } from './src/synthetic-memories.js';
const size = Number(process.argv[2]);
const memories = [...syntheticMemories(size)];
writeFileSync(`/tmp/m${size}.ndjson`, '');
for (let at = 0; at < size; at += 10_000) appendFileSync(`/tmp/m${size}.ndjson`, `${memories.slice(at, at + 10_000).map((m) => JSON.stringify(m)).join('\n')}\n`);
console.log('written');
