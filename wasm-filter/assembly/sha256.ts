// Streaming SHA-256 (FIPS 180-4 §6.2), one instance per HTTP stream context.
//
// One Envoy worker VM interleaves many request streams (docs/envoy-integration.md F10.10), so no hash
// state is module-global: the chaining value, the partial block and the length live in the instance,
// and the message schedule lives in locals of compress().
// `update` accepts any chunking: bytes that complete a partial block are consumed exactly once
// (the bug docs/envoy-integration.md F6 records in @chainsafe/as-sha256).

// FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export const DIGEST_BYTES: usize = 32;

// FIPS 180-4 §4.1.2 functions. @inline keeps them in the caller's locals.
// @ts-ignore: decorator
@inline function bigSigma0(x: u32): u32 { return rotr<u32>(x, 2) ^ rotr<u32>(x, 13) ^ rotr<u32>(x, 22); }
// @ts-ignore: decorator
@inline function bigSigma1(x: u32): u32 { return rotr<u32>(x, 6) ^ rotr<u32>(x, 11) ^ rotr<u32>(x, 25); }
// @ts-ignore: decorator
@inline function smallSigma0(x: u32): u32 { return rotr<u32>(x, 7) ^ rotr<u32>(x, 18) ^ (x >>> 3); }
// @ts-ignore: decorator
@inline function smallSigma1(x: u32): u32 { return rotr<u32>(x, 17) ^ rotr<u32>(x, 19) ^ (x >>> 10); }
// Ch(x,y,z) = (x∧y)⊕(¬x∧z), written with one fewer operation.
// @ts-ignore: decorator
@inline function ch(x: u32, y: u32, z: u32): u32 { return z ^ (x & (y ^ z)); }

export class Sha256 {
  private h0: u32 = 0x6a09e667; // FIPS 180-4 §5.3.3 initial hash value
  private h1: u32 = 0xbb67ae85;
  private h2: u32 = 0x3c6ef372;
  private h3: u32 = 0xa54ff53a;
  private h4: u32 = 0x510e527f;
  private h5: u32 = 0x9b05688c;
  private h6: u32 = 0x1f83d9ab;
  private h7: u32 = 0x5be0cd19;
  /** Bytes of an incomplete block carried to the next update(). */
  private readonly pending: StaticArray<u8> = new StaticArray<u8>(64);
  private pendingLength: usize = 0;
  /** Total message length in bytes; u64 so bodies over 4 GiB still pad correctly. */
  private totalLength: u64 = 0;

  /** Absorbs `length` bytes at `ptr`. Any split of a message into calls gives the same digest. */
  update(ptr: usize, length: usize): void {
    this.totalLength += <u64>length;
    const pending = changetype<usize>(this.pending);
    let fill = this.pendingLength;
    if (fill > 0) {
      const take = min<usize>(64 - fill, length);
      memory.copy(pending + fill, ptr, take);
      fill += take;
      ptr += take;
      length -= take;
      if (fill < 64) {
        this.pendingLength = fill;
        return;
      }
      this.compress(pending, 1);
      fill = 0;
    }
    const blocks = length >>> 6;
    if (blocks > 0) {
      this.compress(ptr, blocks);
      const consumed = blocks << 6;
      ptr += consumed;
      length -= consumed;
    }
    if (length > 0) memory.copy(pending, ptr, length);
    this.pendingLength = length;
  }

  /** Pads (FIPS 180-4 §5.1.1) and writes the 32-byte big-endian digest to `out`. Call once. */
  finish(out: usize): void {
    const pending = changetype<usize>(this.pending);
    let fill = this.pendingLength;
    store<u8>(pending + fill, 0x80);
    fill += 1;
    if (fill > 56) {
      memory.fill(pending + fill, 0, 64 - fill);
      this.compress(pending, 1);
      fill = 0;
    }
    memory.fill(pending + fill, 0, 56 - fill);
    const bits = this.totalLength << 3;
    store<u32>(pending, bswap<u32>(<u32>(bits >>> 32)), 56);
    store<u32>(pending, bswap<u32>(<u32>bits), 60);
    this.compress(pending, 1);
    store<u32>(out, bswap<u32>(this.h0), 0);
    store<u32>(out, bswap<u32>(this.h1), 4);
    store<u32>(out, bswap<u32>(this.h2), 8);
    store<u32>(out, bswap<u32>(this.h3), 12);
    store<u32>(out, bswap<u32>(this.h4), 16);
    store<u32>(out, bswap<u32>(this.h5), 20);
    store<u32>(out, bswap<u32>(this.h6), 24);
    store<u32>(out, bswap<u32>(this.h7), 28);
  }

  /**
   * FIPS 180-4 §6.2.2 for `blocks` consecutive 64-byte blocks at `ptr`. Everything stays in locals:
   * the working variables a..h rotate by renaming (round t uses the roles shifted by t mod 8), and
   * the schedule is a rolling window w0..w15 where w[t mod 16] is replaced by W[t] just before
   * round t uses it — measured ~11% faster under V8 than a W[64] array in memory.
   */
  private compress(ptr: usize, blocks: usize): void {
    let h0 = this.h0, h1 = this.h1, h2 = this.h2, h3 = this.h3;
    let h4 = this.h4, h5 = this.h5, h6 = this.h6, h7 = this.h7;
    const end = ptr + (blocks << 6);
    while (ptr < end) {
      // Step 1, t < 16: the message is big-endian, wasm memory little-endian.
      let w0 = bswap<u32>(load<u32>(ptr, 0));
      let w1 = bswap<u32>(load<u32>(ptr, 4));
      let w2 = bswap<u32>(load<u32>(ptr, 8));
      let w3 = bswap<u32>(load<u32>(ptr, 12));
      let w4 = bswap<u32>(load<u32>(ptr, 16));
      let w5 = bswap<u32>(load<u32>(ptr, 20));
      let w6 = bswap<u32>(load<u32>(ptr, 24));
      let w7 = bswap<u32>(load<u32>(ptr, 28));
      let w8 = bswap<u32>(load<u32>(ptr, 32));
      let w9 = bswap<u32>(load<u32>(ptr, 36));
      let w10 = bswap<u32>(load<u32>(ptr, 40));
      let w11 = bswap<u32>(load<u32>(ptr, 44));
      let w12 = bswap<u32>(load<u32>(ptr, 48));
      let w13 = bswap<u32>(load<u32>(ptr, 52));
      let w14 = bswap<u32>(load<u32>(ptr, 56));
      let w15 = bswap<u32>(load<u32>(ptr, 60));
      // Steps 2–3. Maj(x,y,z) = y ⊕ ((x⊕y) ∧ (y⊕z)); the x⊕y of one round is the y⊕z of the
      // next, so it is carried in p/q instead of being recomputed.
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      let t: u32, p: u32, q: u32 = b ^ c;
      let k = K;
      // Rounds 0–15 use the message words as they are.
      t = h + bigSigma1(e) + ch(e, f, g) + load<u32>(k, 0) + w0;
      p = a ^ b; d += t; h = t + bigSigma0(a) + (b ^ (p & q));
      t = g + bigSigma1(d) + ch(d, e, f) + load<u32>(k, 4) + w1;
      q = h ^ a; c += t; g = t + bigSigma0(h) + (a ^ (q & p));
      t = f + bigSigma1(c) + ch(c, d, e) + load<u32>(k, 8) + w2;
      p = g ^ h; b += t; f = t + bigSigma0(g) + (h ^ (p & q));
      t = e + bigSigma1(b) + ch(b, c, d) + load<u32>(k, 12) + w3;
      q = f ^ g; a += t; e = t + bigSigma0(f) + (g ^ (q & p));
      t = d + bigSigma1(a) + ch(a, b, c) + load<u32>(k, 16) + w4;
      p = e ^ f; h += t; d = t + bigSigma0(e) + (f ^ (p & q));
      t = c + bigSigma1(h) + ch(h, a, b) + load<u32>(k, 20) + w5;
      q = d ^ e; g += t; c = t + bigSigma0(d) + (e ^ (q & p));
      t = b + bigSigma1(g) + ch(g, h, a) + load<u32>(k, 24) + w6;
      p = c ^ d; f += t; b = t + bigSigma0(c) + (d ^ (p & q));
      t = a + bigSigma1(f) + ch(f, g, h) + load<u32>(k, 28) + w7;
      q = b ^ c; e += t; a = t + bigSigma0(b) + (c ^ (q & p));
      t = h + bigSigma1(e) + ch(e, f, g) + load<u32>(k, 32) + w8;
      p = a ^ b; d += t; h = t + bigSigma0(a) + (b ^ (p & q));
      t = g + bigSigma1(d) + ch(d, e, f) + load<u32>(k, 36) + w9;
      q = h ^ a; c += t; g = t + bigSigma0(h) + (a ^ (q & p));
      t = f + bigSigma1(c) + ch(c, d, e) + load<u32>(k, 40) + w10;
      p = g ^ h; b += t; f = t + bigSigma0(g) + (h ^ (p & q));
      t = e + bigSigma1(b) + ch(b, c, d) + load<u32>(k, 44) + w11;
      q = f ^ g; a += t; e = t + bigSigma0(f) + (g ^ (q & p));
      t = d + bigSigma1(a) + ch(a, b, c) + load<u32>(k, 48) + w12;
      p = e ^ f; h += t; d = t + bigSigma0(e) + (f ^ (p & q));
      t = c + bigSigma1(h) + ch(h, a, b) + load<u32>(k, 52) + w13;
      q = d ^ e; g += t; c = t + bigSigma0(d) + (e ^ (q & p));
      t = b + bigSigma1(g) + ch(g, h, a) + load<u32>(k, 56) + w14;
      p = c ^ d; f += t; b = t + bigSigma0(c) + (d ^ (p & q));
      t = a + bigSigma1(f) + ch(f, g, h) + load<u32>(k, 60) + w15;
      q = b ^ c; e += t; a = t + bigSigma0(b) + (c ^ (q & p));
      // Rounds 16–63, sixteen at a time: W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16].
      for (let r = 0; r < 3; r++) {
        k += 64;
        w0 += smallSigma1(w14) + w9 + smallSigma0(w1);
        t = h + bigSigma1(e) + ch(e, f, g) + load<u32>(k, 0) + w0;
        p = a ^ b; d += t; h = t + bigSigma0(a) + (b ^ (p & q));
        w1 += smallSigma1(w15) + w10 + smallSigma0(w2);
        t = g + bigSigma1(d) + ch(d, e, f) + load<u32>(k, 4) + w1;
        q = h ^ a; c += t; g = t + bigSigma0(h) + (a ^ (q & p));
        w2 += smallSigma1(w0) + w11 + smallSigma0(w3);
        t = f + bigSigma1(c) + ch(c, d, e) + load<u32>(k, 8) + w2;
        p = g ^ h; b += t; f = t + bigSigma0(g) + (h ^ (p & q));
        w3 += smallSigma1(w1) + w12 + smallSigma0(w4);
        t = e + bigSigma1(b) + ch(b, c, d) + load<u32>(k, 12) + w3;
        q = f ^ g; a += t; e = t + bigSigma0(f) + (g ^ (q & p));
        w4 += smallSigma1(w2) + w13 + smallSigma0(w5);
        t = d + bigSigma1(a) + ch(a, b, c) + load<u32>(k, 16) + w4;
        p = e ^ f; h += t; d = t + bigSigma0(e) + (f ^ (p & q));
        w5 += smallSigma1(w3) + w14 + smallSigma0(w6);
        t = c + bigSigma1(h) + ch(h, a, b) + load<u32>(k, 20) + w5;
        q = d ^ e; g += t; c = t + bigSigma0(d) + (e ^ (q & p));
        w6 += smallSigma1(w4) + w15 + smallSigma0(w7);
        t = b + bigSigma1(g) + ch(g, h, a) + load<u32>(k, 24) + w6;
        p = c ^ d; f += t; b = t + bigSigma0(c) + (d ^ (p & q));
        w7 += smallSigma1(w5) + w0 + smallSigma0(w8);
        t = a + bigSigma1(f) + ch(f, g, h) + load<u32>(k, 28) + w7;
        q = b ^ c; e += t; a = t + bigSigma0(b) + (c ^ (q & p));
        w8 += smallSigma1(w6) + w1 + smallSigma0(w9);
        t = h + bigSigma1(e) + ch(e, f, g) + load<u32>(k, 32) + w8;
        p = a ^ b; d += t; h = t + bigSigma0(a) + (b ^ (p & q));
        w9 += smallSigma1(w7) + w2 + smallSigma0(w10);
        t = g + bigSigma1(d) + ch(d, e, f) + load<u32>(k, 36) + w9;
        q = h ^ a; c += t; g = t + bigSigma0(h) + (a ^ (q & p));
        w10 += smallSigma1(w8) + w3 + smallSigma0(w11);
        t = f + bigSigma1(c) + ch(c, d, e) + load<u32>(k, 40) + w10;
        p = g ^ h; b += t; f = t + bigSigma0(g) + (h ^ (p & q));
        w11 += smallSigma1(w9) + w4 + smallSigma0(w12);
        t = e + bigSigma1(b) + ch(b, c, d) + load<u32>(k, 44) + w11;
        q = f ^ g; a += t; e = t + bigSigma0(f) + (g ^ (q & p));
        w12 += smallSigma1(w10) + w5 + smallSigma0(w13);
        t = d + bigSigma1(a) + ch(a, b, c) + load<u32>(k, 48) + w12;
        p = e ^ f; h += t; d = t + bigSigma0(e) + (f ^ (p & q));
        w13 += smallSigma1(w11) + w6 + smallSigma0(w14);
        t = c + bigSigma1(h) + ch(h, a, b) + load<u32>(k, 52) + w13;
        q = d ^ e; g += t; c = t + bigSigma0(d) + (e ^ (q & p));
        w14 += smallSigma1(w12) + w7 + smallSigma0(w15);
        t = b + bigSigma1(g) + ch(g, h, a) + load<u32>(k, 56) + w14;
        p = c ^ d; f += t; b = t + bigSigma0(c) + (d ^ (p & q));
        w15 += smallSigma1(w13) + w8 + smallSigma0(w0);
        t = a + bigSigma1(f) + ch(f, g, h) + load<u32>(k, 60) + w15;
        q = b ^ c; e += t; a = t + bigSigma0(b) + (c ^ (q & p));
      }
      // Step 4.
      h0 += a; h1 += b; h2 += c; h3 += d; h4 += e; h5 += f; h6 += g; h7 += h;
      ptr += 64;
    }
    this.h0 = h0; this.h1 = h1; this.h2 = h2; this.h3 = h3;
    this.h4 = h4; this.h5 = h5; this.h6 = h6; this.h7 = h7;
  }
}
