// A child process that appends one record to the log at PATH under 'batch' durability, says so, and
// then ends without closing the log: its event loop runs out, as a script's does when it is done.
import { openFileWal } from '../../src/file-wal.js';

const [path] = process.argv.slice(2);
const { wal } = await openFileWal({ path: path!, codec: 'msgpack', durability: 'batch', batchIntervalMs: 50 });
const [lsn] = await wal.append([{ type: 1, payload: Buffer.from('acknowledged under batch') }]);
process.stdout.write(`${JSON.stringify({ lsn })}\n`);
