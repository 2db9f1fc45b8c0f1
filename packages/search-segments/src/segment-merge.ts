import type { SegmentReader } from './segment-reader.js';
import { PostingsEncoder, writeSegmentSteps, type EncodedTerm } from './segment-writer.js';

/**
 * Merges written segments into one, leaving out the rows `isLive(input, row, id)` refuses (deleted
 * memories, versions a later segment replaced). A generator, so that a long merge can give the event
 * loop turns: it yields now and then, and returns the new segment's bytes.
 */
export function* mergeSegments(inputs: readonly SegmentReader[], isLive: (input: number, row: number, id: number) => boolean): Generator<void, Buffer, void> {
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
  // Terms: a k-way merge of the inputs' sorted term lists.
  const termHeads = inputs.map(() => 0);
  const encoder = new PostingsEncoder();
  const terms: EncodedTerm[] = [];
  const rows: number[] = [];
  const frequencies: number[] = [];
  let walked = 0;
  for (;;) {
    let least: Buffer | undefined;
    inputs.forEach((input, i) => {
      if (termHeads[i]! >= input.termCount) return;
      const term = input.termAt(termHeads[i]!);
      if (!least || Buffer.compare(term, least) < 0) least = term;
    });
    if (!least) break;
    const term: Buffer = least;
    rows.length = 0;
    frequencies.length = 0;
    let ordered = true;
    inputs.forEach((input, i) => {
      if (termHeads[i]! >= input.termCount || !input.termAt(termHeads[i]!).equals(term)) return;
      const map = rowMaps[i]!;
      input.forEachPosting(termHeads[i]!, (row, frequency) => {
        const to = map[row]!;
        if (to < 0) return;
        if (rows.length > 0 && to < rows[rows.length - 1]!) ordered = false;
        rows.push(to);
        frequencies.push(frequency);
      });
      walked += input.docFrequency(termHeads[i]!);
      termHeads[i]!++;
    });
    if (rows.length > 0) {
      if (ordered) {
        for (let k = 0; k < rows.length; k++) encoder.add(rows[k]!, frequencies[k]!);
      } else {
        const order = Array.from(rows.keys()).sort((a, b) => rows[a]! - rows[b]!);
        for (const k of order) encoder.add(rows[k]!, frequencies[k]!);
      }
      terms.push({ bytes: Buffer.from(term), ...encoder.take() });
    }
    if (walked >= 65_536) {
      walked = 0;
      yield;
    }
  }
  return yield* writeSegmentSteps({ ids, lengths, totalLength, terms });
}
