import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';

/**
 * LangGraph's test embeddings (libs/checkpoint/src/tests/vector.test.ts): a text's characters counted
 * into `dims` buckets by char code, normalized. Deterministic; texts with the same characters are
 * close. Records the texts of each `embedDocuments` call.
 */
export class CharacterEmbeddings extends Embeddings {
  readonly dims: number;
  readonly documentCalls: string[][] = [];
  readonly queryCalls: string[] = [];

  constructor(params: EmbeddingsParams & { dims?: number } = {}) {
    super(params);
    this.dims = params.dims ?? 500;
  }

  async embedQuery(query: string): Promise<number[]> {
    this.queryCalls.push(query);
    return characterEmbedding(query, this.dims);
  }

  async embedDocuments(texts: string[]): Promise<number[][]> {
    this.documentCalls.push(texts);
    return texts.map((text) => characterEmbedding(text, this.dims));
  }
}

export function characterEmbedding(text: string, dims: number): number[] {
  const embedding = new Array<number>(dims).fill(0);
  for (let i = 0; i < text.length && i < dims; i += 1) embedding[text.charCodeAt(i) % dims]! += 1;
  const magnitude = Math.sqrt(embedding.reduce((acc, val) => acc + val * val, 0));
  return embedding.map((val) => val / magnitude);
}

/**
 * The Postgres store tests' embedding function (libs/checkpoint-postgres/src/tests/store.int.test.ts):
 * fixed vectors for a few texts, a sine pattern of the others' characters (or all zeros with
 * `asEmpty`). Records the texts of each call.
 */
export function mockEmbedding(dims: number, options: { asEmpty: boolean }): ((texts: string[]) => Promise<number[][]>) & { calls: string[][] } {
  const title = new Array<number>(dims).fill(0);
  title[0] = 1;
  const content = new Array<number>(dims).fill(0);
  content[dims - 1] = 1;
  const fixed: Record<string, number[]> = {
    'Combined Options Test': title,
    'Testing both TTL and indexing options': content,
    'combined options': title,
    'testing both': content,
  };
  const embed = async (texts: string[]): Promise<number[][]> => {
    embed.calls.push(texts);
    return texts.map((text, index) => {
      if (fixed[text]) return [...fixed[text]];
      if (options.asEmpty) return new Array<number>(dims).fill(0);
      return Array.from({ length: dims }, (_, i) => Math.sin((text.charCodeAt(i % text.length) + index) * 0.1));
    });
  };
  embed.calls = [] as string[][];
  return embed;
}
