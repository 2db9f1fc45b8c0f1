// The entry point of the thread that merges search segments (see `MergeThread`): it takes one job at a
// time and answers with the merged segment's bytes, moved to the main thread rather than copied.
import { parentPort } from 'node:worker_threads';
import { runMergeJob, type MergeJob } from './merge-job.js';
import type { MergeAnswer } from './merge-thread.js';

const port = parentPort;
if (port) {
  port.on('message', (job: MergeJob) => {
    let answer: MergeAnswer;
    let moved: ArrayBuffer[] = [];
    try {
      const bytes = runMergeJob(job);
      // (`Buffer.alloc` gives a merged segment a buffer of its own; a view of a larger one is copied out.)
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      answer = { bytes: whole };
      moved = [whole];
    } catch (error) {
      answer = { error: error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error) };
    }
    port.postMessage(answer, moved);
  });
}
