/**
 * The audit line: the exact text, with its newline, that the audit sink (authz-server/src/audit-sink.ts)
 * writes for one decision, in the field order of docs/audit-event.md.
 *
 * - Every event passes through `redactForLog` (core/src/redact.ts, the one redaction list) before
 *   it is serialised, so a token, proof or key that reached an event by mistake is masked here.
 * - A flat event (every event the engine builds) is written member by member by `flatLine`, whose
 *   output is the generic path's byte for byte; it is measured and kept (docs/performance.md,
 *   "Optimisations and their figures").
 */
import { printable, isSensitiveKey, redactForLog, redactString, type AuditEvent } from '../../../core/src/server-api.js';

/** The exact line (with its newline) that the sink emits for `event`. */
export function auditLine(event: AuditEvent): string {
  return flatLine(event) ?? `${JSON.stringify(redactForLog(event))}\n`;
}

/**
 * The keys of the last flat event and the text that opens each member (`"schema":`). The engine
 * builds every event with the same keys in the same order, so this is computed once per process;
 * an event with other keys replaces it.
 */
let shapeKeys: readonly string[] = [];
let shapeOpenings: readonly string[] = [];

/** Member openings for `keys`, or undefined when one of them must take the generic path. */
function openings(keys: readonly string[]): readonly string[] | undefined {
  if (keys.length === shapeKeys.length) {
    let same = true;
    for (let i = 0; i < keys.length && same; i++) same = keys[i] === shapeKeys[i];
    if (same) return shapeOpenings;
  }
  const out: string[] = [];
  for (const key of keys) {
    // `kty` makes the object a JWK, whose private members the generic path masks.
    if (key === '__proto__' || key === 'kty' || isSensitiveKey(key)) return undefined;
    out.push(`${JSON.stringify(key)}:`);
  }
  shapeKeys = keys;
  shapeOpenings = out;
  return out;
}

/**
 * Characters JSON.stringify escapes in a string (`"`, `\`, C0 controls, lone surrogates) and the
 * controls printable() replaces (DEL, C1, U+2028, U+2029): one test on the clean path, as before.
 */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]/;

function quote(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(printable(value)) : `"${value}"`;
}

/**
 * The hot path of `line`: the text `JSON.stringify(redactForLog(event))` produces for a flat event
 * (a plain object whose keys are not sensitive and whose values are strings, finite numbers,
 * booleans, null or undefined; strings through the same `redactString`), written member by member
 * instead of through `redactForLog`'s generic walk and an intermediate copy of the event. Anything
 * else (a sensitive or `__proto__` key, a JWK, a nested or exotic value, a non-plain object) returns
 * undefined and takes the generic path, so the output never differs (test/authz-server/
 * server-audit-line.test.ts checks both against each other on random events). It pays, the shape
 * cache above most of all: docs/performance.md, "Optimisations and their figures".
 */
function flatLine(event: AuditEvent): string | undefined {
  const proto: unknown = Object.getPrototypeOf(event);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const source = event as unknown as Record<string, unknown>;
  const keys = Object.keys(source);
  const open = openings(keys);
  if (open === undefined) return undefined;
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const value = source[keys[i]!];
    let text: string;
    if (typeof value === 'string') text = quote(redactString(value));
    else if (value === null) text = 'null';
    else if (typeof value === 'number') {
      // JSON.stringify writes a finite number as String does; NaN and ±Infinity go generic.
      if (!Number.isFinite(value)) return undefined;
      text = String(value);
    } else if (typeof value === 'boolean') text = value ? 'true' : 'false';
    else if (value === undefined) continue; // JSON.stringify leaves the member out
    else return undefined;
    out += out.length === 1 ? open[i]! + text : `,${open[i]!}${text}`;
  }
  return `${out}}\n`;
}
