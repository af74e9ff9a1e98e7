/**
 * The vector cases are data, in test/vectors/cases/ beside the vectors they produce; this module
 * reads them and evaluates the few directives they use for values that must be computed (a
 * signature, a hash, a time relative to the vector clock). Every case file is a JSON array; the
 * fixed inputs (clock, identities, keys, bodies, bundle) are test/vectors/cases/inputs.json.
 *
 * A directive is an object with one member whose name starts with "$":
 *   {"$now": n}                      the vector clock plus n seconds
 *   {"$utf8": s} {"$body": name} {"$fill": [byte, length]} {"$affine": [a, b, length]}
 *   {"$slice": [bytes, start, end]}  bytes (byte i of $affine is (a·i + b) mod 256)
 *   {"$base64": bytes} {"$base64url": bytes} {"$sha256b64url": bytes or text} {"$length": bytes}
 *   {"$nonce": label}                the nonce the generator derives from a label
 *   {"$public_jwk": key} {"$jkt": key}
 *   {"$claims": {jti, holder?, with?}}          the claims an honest issuer writes, `with` merged in
 *   {"$claims_text": {jti, with?}}              the same, as JSON text
 *   {"$passport": {jti, key?, holder?, key_binding?, iat?, lifetime_s?, sub?, iss?, trust_domain?, aud?}}
 *   {"$jws": {header, claims, signer}}          a compact EdDSA JWS over JSON objects
 *   {"$jws_text": {header?, claims, claims_byte?, signature?}}  the trusted issuer's signature over
 *                                               exact JSON texts (header: the issuer's own by default)
 *   {"$unsigned_jws": {header, claims}}         "header.claims." (alg none)
 *   {"$hs256_jws": {header, claims, secret_is_x_of}}  HMAC keyed with a public key's x bytes
 *   {"$claims_replaced": {passport, claims}}    another claims part under the same signature
 *   {"$concat": [text, …]} {"$signed": "passport"}   text; $signed reads the signed request
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';

export const CASES_DIR = join(PACKAGE_ROOT, 'test', 'vectors', 'cases');

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function readCases<T>(name: string): T {
  return JSON.parse(readFileSync(join(CASES_DIR, name), 'utf8')) as T;
}

/** What evaluates one directive: `arg` is its member's value, not yet evaluated. */
export type Directive = (arg: Json, resolve: (v: Json) => unknown) => unknown;

/** Evaluates every directive in `value`, innermost first where a directive asks for it. */
export function resolver(directives: Record<string, Directive>): (v: Json) => unknown {
  const resolve = (v: Json): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0]!.startsWith('$')) {
      const d = directives[keys[0]!];
      if (d === undefined) throw new Error(`unknown directive ${keys[0]} in the vector cases`);
      return d(v[keys[0]!]!, resolve);
    }
    return Object.fromEntries(keys.map((k) => [k, resolve(v[k]!)]));
  };
  return resolve;
}
