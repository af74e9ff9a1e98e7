/**
 * Byte encodings used by every TrustPlane format: unpadded base64url (RFC 4648 §5), SHA-256 and a
 * canonical JSON form (sorted object keys, no insignificant whitespace; the subset of RFC 8785 that
 * our documents need: strings, safe integers, booleans, null, arrays and objects).
 */
import * as nodeCrypto from 'node:crypto';

const { createHash } = nodeCrypto;
/**
 * One-shot `crypto.hash` (Node >= 20.12) skips the Hash object a createHash chain allocates; the
 * engine hashes three to four small inputs per decision. Looked up, not imported by name, so Node
 * 20.10/20.11 (package engines) still load this module and use createHash.
 */
const oneShot = typeof nodeCrypto.hash === 'function' ? (nodeCrypto.hash as OneShotHash) : undefined;
interface OneShotHash {
  (algorithm: 'sha256', data: Uint8Array | string, encoding: 'base64url' | 'hex'): string;
  (algorithm: 'sha256', data: Uint8Array | string, encoding: 'buffer'): Buffer;
}

export function b64url(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64url');
}

/**
 * Strict decoder: refuses padding, other alphabets, and non-canonical trailing bits. Node's decoder
 * is lenient (it takes both alphabets, skips what it cannot read, ignores leftover bits), so the
 * text is accepted only when it is exactly the encoding of what was decoded: that one comparison
 * refuses every such text, and costs less than a regex over the alphabet plus a look at the bits.
 */
export function fromB64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

export function sha256(data: Uint8Array | string): Buffer {
  return oneShot ? oneShot('sha256', data, 'buffer') : createHash('sha256').update(data).digest();
}

export function sha256b64url(data: Uint8Array | string): string {
  return oneShot ? oneShot('sha256', data, 'base64url') : createHash('sha256').update(data).digest('base64url');
}

export function sha256hex(data: Uint8Array | string): string {
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** Canonical JSON text. Throws TypeError for values JSON cannot carry exactly (floats, undefined, …). */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON carries only safe integers, got ${value}`);
      return String(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareUtf16);
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot carry a ${typeof value}`);
  }
}

/** RFC 8785 orders keys by UTF-16 code units, which is what `<` on JS strings does. */
function compareUtf16(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parse JSON into an object with a null prototype at every level, so `__proto__` is just a key. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    // JSON.parse defines "__proto__" as an own property (it never calls the setter); dropping the
    // prototype afterwards keeps it an ordinary key and leaves no inherited member to be read as a
    // claim. A plain parse and one walk is about three times cheaper than a reviver, which V8 calls
    // for every value, primitives included. Inside the try, so input nested too deeply to walk is
    // refused like input too deep to parse.
    parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    return withNullPrototypes(parsed as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/**
 * Takes the prototype off every plain object in a freshly parsed value, in place. Cheaper than
 * copying into `Object.create(null)` objects (no second object per level, and V8 caches the map
 * transition), with the same result: own data properties only, arrays left as arrays.
 */
function withNullPrototypes<T extends object>(v: T): T {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      if (item !== null && typeof item === 'object') withNullPrototypes(item);
    }
    return v;
  }
  Object.setPrototypeOf(v, null);
  const o = v as Record<string, unknown>;
  // for-in after the prototype is gone: own enumerable keys only, without the array Object.keys makes.
  for (const k in o) {
    const item = o[k];
    if (item !== null && typeof item === 'object') withNullPrototypes(item);
  }
  return v;
}
