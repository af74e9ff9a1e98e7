/** Byte helpers shared by tests, with no dependencies (wasm-filter.ts re-exports them; it loads the AssemblyScript compiler). */

/** Splits `body` at the given sorted cut points; a repeated cut gives an empty piece. A Buffer's pieces are Buffers. */
export function splitAt<T extends Uint8Array>(body: T, cuts: readonly number[]): T[] {
  const chunks: T[] = [];
  let start = 0;
  for (const cut of cuts) {
    chunks.push(body.subarray(start, cut) as T);
    start = cut;
  }
  chunks.push(body.subarray(start) as T);
  return chunks;
}
