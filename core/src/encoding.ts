/**
 * Byte encodings used by every TrustPlane format: unpadded base64url (RFC 4648 §5), SHA-256 and a
 * canonical JSON form (sorted object keys, no insignificant whitespace; the subset of RFC 8785 that
 * our documents need: strings, safe integers, booleans, null, arrays and objects).
 */
import { createHash } from 'node:crypto';

const B64URL = /^[A-Za-z0-9_-]*$/;

export function b64url(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64url');
}

/** Strict decoder: refuses padding, other alphabets, and non-canonical trailing bits. */
export function fromB64url(text: string): Buffer | undefined {
  if (!B64URL.test(text) || text.length % 4 === 1) return undefined;
  const out = Buffer.from(text, 'base64url');
  return out.toString('base64url') === text ? out : undefined;
}

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256b64url(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('base64url');
}

export function sha256hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
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
    parsed = JSON.parse(text, (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        return Object.assign(Object.create(null) as object, v);
      }
      return v;
    });
  } catch {
    return undefined;
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}
