import { SegmentCorrupt, type SegmentReader } from './segment-reader.js';
import { PostingsEncoder, writeSegmentSteps, type EncodedTerm } from './segment-writer.js';

/** Postings copied out of an input at a time. */
const BATCH = 4096;

/**
 * Merges written segments into one, leaving out the rows `isLive(input, row, id)` refuses (deleted
 * memories, versions a later segment replaced). A generator, so that a long merge can give the event
 * loop turns: it yields now and then, and returns the new segment's bytes.
 */
export function* mergeSegments(inputs: readonly SegmentReader[], isLive: (input: number, row: number, id: number) => boolean): Generator<void, Buffer, void> {
  // (A damaged input is refused: merged, its damage would pass into a file whose checksum holds, where
  // neither a check nor a repair would find it.)
  for (const [index, input] of inputs.entries()) {
    if (!(yield* input.verifySteps())) throw new SegmentCorrupt(`${input.path === undefined ? `input ${index + 1} of ${inputs.length} of a merge` : `the search segment ${input.path}`} fails its checksum (its documents, terms or postings changed on disk)`);
    input.trustBody();
  }
  // Each input's rows in the output (-1: left out). Inputs are by id each, and an id is live in one
  // input at most: a k-way merge by id numbers the output's rows.
  const rowMaps = inputs.map((input) => new Int32Array(input.docCount).fill(-1));
  const heads = inputs.map(() => 0);
  const ids: number[] = [];
  const lengths: number[] = [];
  let totalLength = 0;
  for (;;) {
    let pick = -1;
    let pickId = Number.POSITIVE_INFINITY;
    inputs.forEach((input, i) => {
      while (heads[i]! < input.docCount && !isLive(i, heads[i]!, input.idAt(heads[i]!))) heads[i]!++;
      if (heads[i]! < input.docCount && input.idAt(heads[i]!) < pickId) {
        pick = i;
        pickId = input.idAt(heads[i]!);
      }
    });
    if (pick < 0) break;
    const row = heads[pick]!++;
    rowMaps[pick]![row] = ids.length;
    ids.push(pickId);
    const length = inputs[pick]!.lengthAt(row);
    lengths.push(length);
    totalLength += length;
    if (ids.length % 65_536 === 0) yield;
  }
  // Terms: a k-way merge of the inputs' sorted term lists. A term's postings are gathered in arrays
  // reused from term to term (grown, never shrunk): a merge makes little garbage however many it walks.
  const termHeads = inputs.map(() => 0);
  const encoder = new PostingsEncoder();
  const terms: EncodedTerm[] = [];
  let rows = new Int32Array(1024);
  let frequencies = new Int32Array(1024);
  const batchRows = new Int32Array(BATCH);
  const batchFrequencies = new Int32Array(BATCH);
  let walked = 0;
  for (;;) {
    // The input holding the least term at its head, and that term's index there.
    let least = -1;
    for (let i = 0; i < inputs.length; i++) {
      if (termHeads[i]! >= inputs[i]!.termCount) continue;
      if (least < 0 || inputs[i]!.compareTermTo(termHeads[i]!, inputs[least]!, termHeads[least]!) < 0) least = i;
    }
    if (least < 0) break;
    const leastInput = inputs[least]!;
    const leastIndex = termHeads[least]!;
    let count = 0;
    let ordered = true;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      const index = termHeads[i]!;
      if (index >= input.termCount || (i !== least && input.compareTermTo(index, leastInput, leastIndex) !== 0)) continue;
      const postings = input.docFrequency(index);
      if (count + postings > rows.length) {
        rows = grown(rows, count, count + postings);
        frequencies = grown(frequencies, count, count + postings);
      }
      const map = rowMaps[i]!;
      const cursor = input.cursor(index);
      for (;;) {
        const read = cursor.readUntil(Number.POSITIVE_INFINITY, batchRows, batchFrequencies);
        for (let k = 0; k < read; k++) {
          const to = map[batchRows[k]!]!;
          if (to < 0) continue;
          if (count > 0 && to < rows[count - 1]!) ordered = false;
          rows[count] = to;
          frequencies[count] = batchFrequencies[k]!;
          count++;
        }
        if (read < BATCH) break;
      }
      walked += postings;
      termHeads[i]!++;
    }
    if (count > 0) {
      if (ordered) {
        for (let k = 0; k < count; k++) encoder.add(rows[k]!, frequencies[k]!);
      } else {
        const order = Array.from({ length: count }, (_, k) => k).sort((a, b) => rows[a]! - rows[b]!);
        for (const k of order) encoder.add(rows[k]!, frequencies[k]!);
      }
      terms.push({ bytes: Buffer.from(leastInput.termAt(leastIndex)), ...encoder.take() });
    }
    if (walked >= 65_536) {
      walked = 0;
      yield;
    }
  }
  return yield* writeSegmentSteps({ ids, lengths, totalLength, terms });
}

/** `array`'s first `kept` ints in a new array of at least `needed`, twice as long as it at least. */
function grown(array: Int32Array, kept: number, needed: number): Int32Array<ArrayBuffer> {
  let length = array.length * 2;
  while (length < needed) length *= 2;
  const bigger = new Int32Array(length);
  bigger.set(array.subarray(0, kept));
  return bigger;
}
