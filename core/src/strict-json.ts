/**
 * The JSON profile of the passport header, the passport claims and the proof parameters
 * (docs/transcript-v1.md §2, "JSON texts"): RFC 8259 JSON, and in addition
 *
 * 1. the bytes are valid UTF-8 (RFC 8259 §8.1), refused rather than repaired;
 * 2. no object has two members with the same name, at any depth (RFC 8259 §4 leaves duplicates to the
 *    implementation, and implementations disagree: last wins, first wins, or an error);
 * 3. every number is a non-negative integer written in plain decimal — no sign, fraction or exponent
 *    (`1767225595.0`, `1.7e9` and `-0` are refused) — and at most 2^53−1, so that parsers with any
 *    number model (IEEE double, int64, decimal) read the same value (RFC 8259 §6, RFC 7493 §2.2).
 *
 * How it stays cheap: one pass over the bytes that tracks only whether it is inside a string; outside
 * strings it counts `:` (each member has exactly one) and looks at number characters. The native
 * JSON.parse then builds the value, and the walk that takes the prototypes off counts the members
 * the parsed objects kept. A duplicate anywhere makes JSON.parse keep fewer members than the text
 * has colons (a collapsed member, or a discarded object value, is lost), so one comparison of two
 * counts detects it without building a set of names. The byte loop runs on a Uint8Array, so it is not
 * slowed by V8's String-prototype deoptimisation (see authz-server/src/envoy/wire.ts).
 */
import { isUtf8 } from 'node:buffer';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
/** 2^53−1 has 16 digits; a 16-digit run is compared with it as text. */
const MAX_SAFE_DIGITS = '9007199254740991';

/**
 * Parses `bytes` as a JSON object under the profile above; undefined when the text breaks it or is
 * not a JSON object. Every object in the result has a null prototype, so `__proto__` is an ordinary
 * member name and nothing inherited can be read as a claim.
 */
export function parseStrictJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (!isUtf8(bytes)) return undefined;
  const colons = scan(bytes, true);
  if (colons < 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    // Inside the try: input nested too deeply to walk is refused like input too deep to parse.
    return countMembers(parsed) === colons ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the JSON text `bytes`, which JSON.parse read as `parsed`, has an object with two members
 * of the same name somewhere (the bundle's rule, docs/bundle.md §2; its numbers have their own rule).
 */
export function hasDuplicateMembers(bytes: Uint8Array, parsed: unknown): boolean {
  return parsed !== null && typeof parsed === 'object' && scan(bytes, false) !== countOwn(parsed);
}

function countOwn(v: object): number {
  let count = 0;
  if (Array.isArray(v)) {
    for (const item of v as unknown[]) if (item !== null && typeof item === 'object') count += countOwn(item);
    return count;
  }
  for (const k of Object.keys(v)) {
    count++;
    const item = (v as Record<string, unknown>)[k];
    if (item !== null && typeof item === 'object') count += countOwn(item);
  }
  return count;
}

/**
 * Colons outside strings, or −1 (with `numbers`) for a number the profile refuses. Syntax errors are
 * left to JSON.parse.
 */
function scan(b: Uint8Array, numbers: boolean): number {
  let colons = 0;
  let digits = 0;
  let digitStart = 0;
  const n = b.length;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      // Skip the string: a backslash escapes the next byte, so `\"` never ends it.
      for (i++; i < n; i++) {
        const d = b[i]!;
        if (d === QUOTE) break;
        if (d === BACKSLASH) i++;
      }
      digits = 0;
      continue;
    }
    if (!numbers) {
      if (c === COLON) colons++;
      continue;
    }
    if (c >= ZERO && c <= NINE) {
      if (digits === 0) digitStart = i;
      digits++;
      continue;
    }
    if (digits > 0) {
      if (digits > 16 || (digits === 16 && tooLarge(b, digitStart))) return -1;
      // A fraction or an exponent follows a digit; `true` and `false` end in an "e" after a letter.
      if (c === DOT || c === LOWER_E || c === UPPER_E) return -1;
      digits = 0;
    }
    if (c === COLON) colons++;
    else if (c === MINUS || c === DOT) return -1;
  }
  if (digits > 16 || (digits === 16 && tooLarge(b, digitStart))) return -1;
  return colons;
}

function tooLarge(b: Uint8Array, start: number): boolean {
  for (let k = 0; k < 16; k++) {
    const d = b[start + k]! - ZERO;
    const m = MAX_SAFE_DIGITS.charCodeAt(k) - ZERO;
    if (d !== m) return d > m;
  }
  return false;
}

/**
 * Takes the prototype off every plain object of a freshly parsed value, in place, and returns how
 * many members those objects have in all. for-in after the prototype is gone sees own keys only.
 */
function countMembers(v: object): number {
  let count = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      if (item !== null && typeof item === 'object') count += countMembers(item);
    }
    return count;
  }
  Object.setPrototypeOf(v, null);
  const o = v as Record<string, unknown>;
  for (const k in o) {
    count++;
    const item = o[k];
    if (item !== null && typeof item === 'object') count += countMembers(item);
  }
  return count;
}
