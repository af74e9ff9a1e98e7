/**
 * Point checks for the two public-key types TrustPlane accepts, on the raw coordinate bytes. Used
 * only by core/src/keys.ts, the one door every key comes through (docs/transcript-v1.md §4.1).
 *
 * Node's JWK import checks neither: `createPublicKey` takes any 32 bytes as an Ed25519 key (the
 * identity point included, with which one fixed signature verifies over every message), and for
 * P-256 it relies on OpenSSL, whose range checks differ between versions. So both are checked here,
 * with BigInt arithmetic, once per key (bundle keys at compile time; holder keys once per distinct
 * key, see core/src/engine/holder-keys.ts).
 */

/** Ed25519 field prime p = 2^255 − 19 (RFC 8032 §5.1). */
const P25519 = (1n << 255n) - 19n;
const MASK255 = (1n << 255n) - 1n;
/** d = −121665/121666 mod p (RFC 8032 §5.1). */
const D25519 = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
/** sqrt(−1) mod p = 2^((p−1)/4) (RFC 8032 §5.1.3, step 3). */
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;

/**
 * The y coordinates of the eight points of order dividing 8 (the whole torsion subgroup: the curve
 * has order 8·ℓ with ℓ prime, RFC 8032 §5.1). Order 1: (0, 1). Order 2: (0, −1). Order 4: (±√−1, 0).
 * Order 8: the four points (±x, ±y8) with y8² = (−1 + √(1+d))/d, the root of d·y⁴ + 2y² − 1 = 0 that
 * is a square (from doubling: 2Q has y = 0 exactly when x² = −y²). test/core/keys.test.ts derives
 * every one of them again with the group law and checks [8]P = O.
 *
 * A comparison of y against these five values refuses every small-order encoding, whatever its sign
 * bit (the sign only picks x), and the non-canonical ones (y + p for y ∈ {0, 1}, the only ones below
 * 2^255) are refused before, as y ≥ p. This is the list approach of Chalkias, Garillot and Nikolaenko,
 * "Taming the many EdDSAs" (SSR 2020, §3 and Table 5), applied to y alone: five BigInt compares
 * instead of a scalar multiplication.
 */
const SMALL_ORDER_Y: readonly bigint[] = [
  0n,
  1n,
  P25519 - 1n,
  0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
  0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n,
];

export type PointProblem = 'not_canonical' | 'small_order' | 'not_on_curve';

/** RFC 8032 §5.1.3 decoding of a 32-byte Ed25519 public key, plus the small-order refusal. */
export function ed25519PointProblem(bytes: Uint8Array): PointProblem | undefined {
  if (bytes.length !== 32) return 'not_on_curve';
  const y = littleEndian(bytes) & MASK255;
  const sign = bytes[31]! >> 7;
  // §5.1.3 step 1: "If the y-coordinate is >= p, decoding fails."
  if (y >= P25519) return 'not_canonical';
  for (const t of SMALL_ORDER_Y) if (y === t) return 'small_order';
  // Steps 2-4: x² = u/v with u = y² − 1, v = d·y² + 1; x = u·v³·(u·v⁷)^((p−5)/8), then v·x² = ±u.
  const y2 = mulMod(y, y);
  const u = y2 === 0n ? P25519 - 1n : y2 - 1n;
  const v = mulMod(D25519, y2) + 1n;
  const v3 = mulMod(mulMod(v, v), v);
  let x = mulMod(mulMod(u, v3), pow2252m3(mulMod(u, mulMod(mulMod(v3, v3), v))));
  const vx2 = mulMod(v, mulMod(x, x));
  if (vx2 !== u) {
    if (vx2 !== P25519 - u) return 'not_on_curve';
    x = mulMod(x, SQRT_M1);
  }
  // Step 4: x = 0 with the sign bit set does not decode. Only y = ±1 give x = 0, refused above;
  // kept so the function is the whole §5.1.3 decoding on its own.
  if (x === 0n && sign === 1) return 'not_canonical';
  return undefined;
}

/** P-256 (SEC 2 §2.4.2 / NIST SP 800-186 §3.2.1.3): a = −3. */
const P256 = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B256 = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
/** The group order n: a private scalar must be 1 ≤ d < n (SEC 1 §3.2.1). */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * SEC 1 §3.2.2.1 public-key validation for an affine point given as two 32-byte big-endian
 * coordinates: each below p and y² = x³ − 3x + b. The point at infinity (the identity) has no affine
 * coordinates, so a JWK cannot name it; any pair that tries, such as (0, 0), is not on the curve
 * because b ≠ 0. The cofactor of P-256 is 1, so every point on the curve has prime order.
 */
export function p256PointProblem(xBytes: Uint8Array, yBytes: Uint8Array): PointProblem | undefined {
  const x = bigEndian(xBytes);
  const y = bigEndian(yBytes);
  if (x >= P256 || y >= P256) return 'not_canonical';
  const rhs = (((((x * x) % P256) * x) % P256) + P256 * 3n - 3n * x + B256) % P256;
  return (y * y) % P256 === rhs ? undefined : 'not_on_curve';
}

export function bigEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = 0; i < bytes.length; i++) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/** a·b mod p for a, b < 2^256: 2^255 ≡ 19 (mod p) folds the product twice; cheaper than `%`. */
function mulMod(a: bigint, b: bigint): bigint {
  let t = a * b;
  t = (t & MASK255) + 19n * (t >> 255n);
  t = (t & MASK255) + 19n * (t >> 255n);
  return t >= P25519 ? t - P25519 : t;
}

function squareTimes(x: bigint, k: number): bigint {
  for (let i = 0; i < k; i++) x = mulMod(x, x);
  return x;
}

/**
 * z^(2^252 − 3) = z^((p−5)/8). With e(k) = z^(2^k − 1): e(a+b) = e(a)^(2^b)·e(b), so e(250) comes
 * from e(1), e(2), e(4), …, e(128) in 249 squarings and 12 multiplications; then
 * 2^252 − 3 = 4·(2^250 − 1) + 1. About 120 µs (measured, Node 20), half of square-and-multiply.
 */
function pow2252m3(z: bigint): bigint {
  const e1 = z;
  const e2 = mulMod(squareTimes(e1, 1), e1);
  const e4 = mulMod(squareTimes(e2, 2), e2);
  const e8 = mulMod(squareTimes(e4, 4), e4);
  const e16 = mulMod(squareTimes(e8, 8), e8);
  const e32 = mulMod(squareTimes(e16, 16), e16);
  const e64 = mulMod(squareTimes(e32, 32), e32);
  const e128 = mulMod(squareTimes(e64, 64), e64);
  // 250 = 128 + 64 + 32 + 16 + 8 + 2
  const e192 = mulMod(squareTimes(e128, 64), e64);
  const e224 = mulMod(squareTimes(e192, 32), e32);
  const e240 = mulMod(squareTimes(e224, 16), e16);
  const e248 = mulMod(squareTimes(e240, 8), e8);
  const e250 = mulMod(squareTimes(e248, 2), e2);
  return mulMod(squareTimes(e250, 2), z);
}
