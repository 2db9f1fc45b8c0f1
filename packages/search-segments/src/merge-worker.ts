// The entry point of the thread that merges search segments (see `MergeThread`): it takes one job at a
// time and answers with the merged segment's bytes, moved to the main thread rather than copied.
import { parentPort } from 'node:worker_threads';
import { runMergeJob } from './merge-job.js';
import type { MergeAnswer, MergeRequest } from './merge-thread.js';

const port = parentPort;
if (port) {
  port.on('message', ({ id, job }: MergeRequest) => {
    let answer: MergeAnswer;
    let moved: ArrayBuffer[] = [];
    try {
      const bytes = runMergeJob(job);
      // (`Buffer.alloc` gives a merged segment a buffer of its own; a view of a larger one is copied out.)
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      answer = { id, bytes: whole };
      moved = [whole];
    } catch (error) {
      answer = { id, error: error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error) };
    }
    port.postMessage(answer, moved);
  });
}
