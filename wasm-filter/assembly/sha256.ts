// Streaming SHA-256 (FIPS 180-4 §6.2), one instance per HTTP stream context.
//
// One Envoy worker VM interleaves many request streams (envoy-facts §10.10), so no hash state is
// module-global except the message-schedule scratch below, which is only live inside one
// compress() call (the VM is single-threaded and compress() calls no host function).
// `update` accepts any chunking: bytes that complete a partial block are consumed exactly once
// (the bug envoy-facts §6 found in @chainsafe/as-sha256).

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
], 16);

// Message schedule W[0..63] (FIPS 180-4 §6.2.2 step 1), shared scratch — see the header comment.
const W: usize = memory.data(64 * 4, 16);
// Shuffle mask reversing the bytes of each 32-bit lane.
const BSWAP32 = v128(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);

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

  /** FIPS 180-4 §6.2.2 for `blocks` consecutive 64-byte blocks at `ptr`; state stays in locals. */
  private compress(ptr: usize, blocks: usize): void {
    let h0 = this.h0, h1 = this.h1, h2 = this.h2, h3 = this.h3;
    let h4 = this.h4, h5 = this.h5, h6 = this.h6, h7 = this.h7;
    const end = ptr + (blocks << 6);
    while (ptr < end) {
      // Step 1: the message is big-endian, wasm memory little-endian: byte-swap four words at once.
      store<v128>(W, i8x16.swizzle(load<v128>(ptr, 0), BSWAP32), 0);
      store<v128>(W, i8x16.swizzle(load<v128>(ptr, 16), BSWAP32), 16);
      store<v128>(W, i8x16.swizzle(load<v128>(ptr, 32), BSWAP32), 32);
      store<v128>(W, i8x16.swizzle(load<v128>(ptr, 48), BSWAP32), 48);
      // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]; q points at W[t-16] (wasm offsets are unsigned).
      for (let q: usize = W; q < W + 192; q += 8) {
        store<u32>(q, smallSigma1(load<u32>(q, 56)) + load<u32>(q, 36) + smallSigma0(load<u32>(q, 4)) + load<u32>(q, 0), 64);
        store<u32>(q, smallSigma1(load<u32>(q, 60)) + load<u32>(q, 40) + smallSigma0(load<u32>(q, 8)) + load<u32>(q, 4), 68);
      }
      // W[t] + K[t] for all t at once, so each round loads one word instead of two.
      for (let i: usize = 0; i < 256; i += 64) {
        store<v128>(W + i, i32x4.add(load<v128>(W + i, 0), load<v128>(K + i, 0)), 0);
        store<v128>(W + i, i32x4.add(load<v128>(W + i, 16), load<v128>(K + i, 16)), 16);
        store<v128>(W + i, i32x4.add(load<v128>(W + i, 32), load<v128>(K + i, 32)), 32);
        store<v128>(W + i, i32x4.add(load<v128>(W + i, 48), load<v128>(K + i, 48)), 48);
      }
      // Steps 2–3: 64 rounds, eight per iteration so the a..h rotation is a renaming, not moves.
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      // Maj(x,y,z) = y ⊕ ((x⊕y) ∧ (y⊕z)); x⊕y of one round is y⊕z of the next, so it is carried
      // over in p/q instead of being recomputed.
      let t: u32, p: u32, q: u32 = b ^ c;
      for (let i: usize = 0; i < 256; i += 32) {
        const w = W + i;
        t = h + bigSigma1(e) + ch(e, f, g) + load<u32>(w, 0);
        p = a ^ b; d += t; h = t + bigSigma0(a) + (b ^ (p & q));
        t = g + bigSigma1(d) + ch(d, e, f) + load<u32>(w, 4);
        q = h ^ a; c += t; g = t + bigSigma0(h) + (a ^ (q & p));
        t = f + bigSigma1(c) + ch(c, d, e) + load<u32>(w, 8);
        p = g ^ h; b += t; f = t + bigSigma0(g) + (h ^ (p & q));
        t = e + bigSigma1(b) + ch(b, c, d) + load<u32>(w, 12);
        q = f ^ g; a += t; e = t + bigSigma0(f) + (g ^ (q & p));
        t = d + bigSigma1(a) + ch(a, b, c) + load<u32>(w, 16);
        p = e ^ f; h += t; d = t + bigSigma0(e) + (f ^ (p & q));
        t = c + bigSigma1(h) + ch(h, a, b) + load<u32>(w, 20);
        q = d ^ e; g += t; c = t + bigSigma0(d) + (e ^ (q & p));
        t = b + bigSigma1(g) + ch(g, h, a) + load<u32>(w, 24);
        p = c ^ d; f += t; b = t + bigSigma0(c) + (d ^ (p & q));
        t = a + bigSigma1(f) + ch(f, g, h) + load<u32>(w, 28);
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
