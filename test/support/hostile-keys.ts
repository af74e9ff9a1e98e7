/**
 * Hostile key material for tests, derived here from first principles (the group law), never from
 * the product's own tables, so a test checks core/src/lib/curve-points.ts instead of repeating it:
 *
 * - every base64url spelling of a coordinate that a lenient decoder reads as the same bytes;
 * - every Ed25519 encoding of a point of small order, canonical or not (RFC 8032 §5.1.3);
 * - Ed25519 encodings that are no point at all; P-256 pairs that are not on the curve.
 */

// ---------------------------------------------------------------------------------------------
// base64url spellings

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The other texts of the same length that Node's lenient decoder reads as the same bytes: the last
 * character carries unused low bits (2 of them for 32 bytes in 43 characters), so there are
 * 2^unused spellings in all. The canonical one is not in the list.
 */
export function trailingBitSpellings(canonical: string): string[] {
  const bits = (canonical.length * 6) % 8;
  const unused = bits === 0 ? 0 : bits === 2 ? 2 : 4;
  const last = ALPHABET.indexOf(canonical[canonical.length - 1]!);
  const out: string[] = [];
  for (let low = 1; low < 1 << unused; low++) out.push(canonical.slice(0, -1) + ALPHABET[last | low]!);
  return out;
}

/** Spellings a lenient decoder also maps to the same bytes: padding, the standard alphabet, junk. */
export function otherSpellings(canonical: string): string[] {
  const std = canonical.replace(/-/g, '+').replace(/_/g, '/');
  const list = [`${canonical}=`, `${canonical}==`, ` ${canonical}`, `${canonical}\n`, `${canonical.slice(0, 20)}.${canonical.slice(20)}`];
  if (std !== canonical) list.push(std);
  return list;
}

// ---------------------------------------------------------------------------------------------
// Ed25519 arithmetic (RFC 8032 §5.1), slow and plain: tests only

export const ED_P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const mod = (a: bigint): bigint => ((a % ED_P) + ED_P) % ED_P;
function pow(b: bigint, e: bigint): bigint {
  let r = 1n;
  b = mod(b);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % ED_P;
    b = (b * b) % ED_P;
    e >>= 1n;
  }
  return r;
}
const inv = (a: bigint): bigint => pow(a, ED_P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (ED_P - 1n) / 4n);

export interface EdPoint {
  readonly x: bigint;
  readonly y: bigint;
}
export const ED_IDENTITY: EdPoint = { x: 0n, y: 1n };

/** Affine twisted Edwards addition with a = −1 (complete on this curve). */
export function edAdd(p: EdPoint, q: EdPoint): EdPoint {
  const t = mod(D * p.x * q.x * p.y * q.y);
  return { x: mod((p.x * q.y + q.x * p.y) * inv(1n + t)), y: mod((p.y * q.y + p.x * q.x) * inv(1n - t)) };
}

/** [k]P in extended coordinates (RFC 8032 §5.1.4 addition, used for doubling too), one inversion at the end. */
export function edMul(k: bigint, p: EdPoint): EdPoint {
  type Ext = [bigint, bigint, bigint, bigint];
  const add = ([x1, y1, z1, t1]: Ext, [x2, y2, z2, t2]: Ext): Ext => {
    const a = mod((y1 - x1) * (y2 - x2));
    const b = mod((y1 + x1) * (y2 + x2));
    const c = mod(t1 * 2n * D * t2);
    const d = mod(z1 * 2n * z2);
    const e = b - a;
    const f = d - c;
    const g = d + c;
    const h = b + a;
    return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
  };
  let r: Ext = [0n, 1n, 1n, 0n];
  let a: Ext = [p.x, p.y, 1n, mod(p.x * p.y)];
  while (k > 0n) {
    if (k & 1n) r = add(r, a);
    a = add(a, a);
    k >>= 1n;
  }
  const zi = inv(r[2]);
  return { x: mod(r[0] * zi), y: mod(r[1] * zi) };
}

/** x for y with the given sign bit, or undefined when y is on no point. */
export function edRecoverX(y: bigint, sign: number): bigint | undefined {
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  const x2 = mod(u * inv(v));
  if (x2 === 0n) return sign === 0 ? 0n : undefined;
  let x = pow(x2, (ED_P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1);
  if (mod(x * x - x2) !== 0n) return undefined;
  if (Number(x & 1n) !== sign) x = ED_P - x;
  return x;
}

/** The 32-byte little-endian encoding of y (which may be ≥ p) with the sign bit. */
export function edEncode(y: bigint, sign: number): Buffer {
  const b = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (sign) b[31]! |= 0x80;
  return b;
}

const pointKey = (p: EdPoint): string => `${p.x}:${p.y}`;

/**
 * The eight points of the torsion subgroup: [ℓ]Q for a curve point Q has order dividing 8 (the
 * curve has order 8ℓ); one of order exactly 8 generates all eight. Each is checked with [8]T = O.
 */
export function torsionPoints(): EdPoint[] {
  if (torsionCache) return torsionCache;
  // A point of order exactly 8 generates the whole torsion subgroup (it is cyclic: Z/8).
  let gen: EdPoint | undefined;
  for (let y = 2n; gen === undefined && y < 200n; y++) {
    const x = edRecoverX(y, 0);
    if (x === undefined) continue;
    const t = edMul(L, { x, y });
    if (pointKey(edMul(4n, t)) !== pointKey(ED_IDENTITY)) gen = t;
  }
  if (!gen) throw new Error('no point of order 8 found');
  const list: EdPoint[] = [];
  let t = ED_IDENTITY;
  for (let i = 0; i < 8; i++) {
    list.push(t);
    t = edAdd(t, gen);
  }
  if (new Set(list.map(pointKey)).size !== 8) throw new Error('torsion points are not distinct');
  for (const q of list) if (pointKey(edMul(8n, q)) !== pointKey(ED_IDENTITY)) throw new Error('not a torsion point');
  torsionCache = list;
  return list;
}
let torsionCache: EdPoint[] | undefined;

export interface HostileEncoding {
  readonly name: string;
  /** base64url of the 32 bytes (canonical base64url; the point encoding is what is hostile). */
  readonly x: string;
}

/**
 * Every 32-byte string that decodes (or that a lenient decoder would decode) to a point of small
 * order: each torsion point canonically, with the other sign bit where x = 0 ("negative zero"), and
 * as y + p wherever y + p < 2^255, with both sign bits.
 */
export function smallOrderEncodings(): HostileEncoding[] {
  const out: HostileEncoding[] = [];
  const seen = new Set<string>();
  const add = (name: string, y: bigint, sign: number): void => {
    const x = edEncode(y, sign).toString('base64url');
    if (!seen.has(x)) out.push({ name, x });
    seen.add(x);
  };
  for (const t of torsionPoints()) {
    const sign = Number(t.x & 1n);
    const order = [1n, 2n, 4n, 8n].find((n) => pointKey(edMul(n, t)) === pointKey(ED_IDENTITY))!;
    add(`order ${order} (y=${t.y.toString(16).slice(0, 8)}…, sign ${sign})`, t.y, sign);
    if (t.x === 0n) add(`order ${order}, negative zero (x = 0 with the sign bit set)`, t.y, 1);
    if (t.y + ED_P < 1n << 255n) {
      add(`order ${order}, non-canonical y + p, sign 0`, t.y + ED_P, 0);
      add(`order ${order}, non-canonical y + p, sign 1`, t.y + ED_P, 1);
    }
  }
  return out;
}

/** A y below p that is on no point of Ed25519 (u/v is not a square). */
export function edNotOnCurve(start = 2n): HostileEncoding {
  for (let y = start; ; y++) if (edRecoverX(y, 0) === undefined) return { name: `y=${y}, no point`, x: edEncode(y, 0).toString('base64url') };
}

/** Non-canonical encodings (y ≥ p) of ordinary points: y + p for small y that are on the curve. */
export function edNonCanonical(): HostileEncoding[] {
  const out: HostileEncoding[] = [];
  for (let y = 2n; y + ED_P < 1n << 255n; y++) {
    if (edRecoverX(y, 0) === undefined) continue;
    out.push({ name: `y=${y}+p`, x: edEncode(y + ED_P, 0).toString('base64url') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// P-256 (SEC 2 §2.4.2)

export const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

export function p256OnCurve(x: bigint, y: bigint): boolean {
  const m = (a: bigint): bigint => ((a % P256_P) + P256_P) % P256_P;
  return m(y * y) === m(x * x * x - 3n * x + P256_B);
}

export function be32(n: bigint): string {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex').toString('base64url');
}

export function fromBe(b64: string): bigint {
  return BigInt(`0x${Buffer.from(b64, 'base64url').toString('hex')}`);
}
