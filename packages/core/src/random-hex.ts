/**
 * `bytes` random bytes as hex, for names of temporary files and nonces. (From Web Crypto, which Node
 * loads when first asked: importing `node:crypto` costs every process a few milliseconds at start.)
 */
export function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
