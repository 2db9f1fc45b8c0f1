// A process that opens the store at ROOT, makes a `watchState()` it never iterates, and then has nothing
// left to do: it must exit (only a loop waiting on a watcher keeps a process alive).
import { MemMapFS } from '@memmapfs/core';
import { v8Codec, WordSearch } from '../fixtures.js';

const fs = await MemMapFS.init(process.argv[2]!, { codec: v8Codec(), search: new WordSearch() });
fs.watchState();
process.stdout.write('ready\n');
