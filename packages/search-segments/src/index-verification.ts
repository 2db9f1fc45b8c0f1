import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeDescription } from './index-description.js';
import { SegmentReader } from './segment-reader.js';

/**
 * What is wrong with the saved index `saved` describes in `folder`: its description unreadable, a
 * segment file missing, or one whose header or body fails its checksum. Nothing when it is sound.
 * Reads each file whole, one at a time; changes nothing.
 */
export async function verifySavedIndex(folder: string, saved: Uint8Array): Promise<string[]> {
  let segments: readonly string[];
  try {
    segments = decodeDescription(saved).segments;
  } catch (error) {
    return [`The description of the saved index is ${(error as Error).message}.`];
  }
  const problems: string[] = [];
  for (const file of segments) {
    const path = join(folder, file);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      problems.push(`The search segment ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
      continue;
    }
    try {
      if (!new SegmentReader(bytes).verify()) problems.push(`The search segment ${path} fails its checksum (its documents, terms or postings changed on disk).`);
    } catch (error) {
      problems.push(`The search segment ${path} is ${(error as Error).message}.`);
    }
  }
  return problems;
}
