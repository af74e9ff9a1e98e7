/**
 * Verification of a bundle before it may serve. Checks run in this order and the first failing one
 * decides the code, so unauthenticated content is never reported as anything but its authenticity:
 *
 *   1. parse + schema              → bundle_invalid (every problem listed)
 *   2. signature (always checked when present, whatever allowUnsigned says)
 *                                  → bundle_unsigned | bundle_signing_key_unknown | bundle_signature_invalid
 *   3. time window                 → bundle_expired | bundle_not_yet_valid
 *   4. rollback                    → bundle_rollback
 *
 * `sha256` identifies the signed content (hex SHA-256 of canonicalBundleBytes), so re-signing the
 * same content, or re-formatting the file, does not count as a change.
 */
import type { KeyObject } from 'node:crypto';
import { fromB64url, parseJsonObject, sha256hex } from '../encoding.js';
import { hasDuplicateMembers } from '../strict-json.js';
import { checkPublicJwk, verifyBytes } from '../keys.js';
import type { PublicJwk } from '../types.js';
import { canonicalBundleBytes } from './canonical.js';
import type { BundleErrorCode } from './errors.js';
import type { BundleDocument } from './types.js';
import { validateBundle } from './validate.js';

/** How far in the future `issued_at` may be before a bundle is refused, in seconds. */
export const BUNDLE_CLOCK_SKEW_S = 300;

export interface VerifyBundleOptions {
  /** Bundle-signing public keys, found by `kid` (the JWK's `kid`, else its RFC 7638 thumbprint). */
  readonly signingKeys: readonly PublicJwk[];
  /** Development only: accept a bundle without a signature. A present signature is still checked. */
  readonly allowUnsigned?: boolean;
  /** Unix seconds. */
  readonly now: number;
  /** Refuse serials below this (for example the highest serial persisted across restarts). */
  readonly minSerial?: number;
  /** The bundle in use: a lower serial, or the same serial with other content, is a rollback. */
  readonly current?: { readonly serial: number; readonly sha256: string };
}

export type BundleVerification =
  | { ok: true; bundle: BundleDocument; sha256: string }
  | { ok: false; code: BundleErrorCode; problems: string[] };

/**
 * `json` is the parsed document, or its JSON text as a string or UTF-8 bytes (invalid UTF-8 is
 * refused rather than replaced, so two readers cannot see different documents).
 */
export function verifyBundle(json: unknown, opts: VerifyBundleOptions): BundleVerification {
  const parsed = parse(json);
  if (!parsed.ok) return fail('bundle_invalid', parsed.problem);
  const checked = validateBundle(parsed.value);
  if (!checked.ok) return { ok: false, code: 'bundle_invalid', problems: checked.problems };
  const bundle = checked.bundle;
  const bytes = canonicalBundleBytes(bundle);

  const sig = bundle.signature;
  if (!sig) {
    if (!opts.allowUnsigned) return fail('bundle_unsigned', 'the bundle has no signature and unsigned bundles are not allowed');
  } else {
    const key = findKey(opts.signingKeys, sig.kid);
    if (!key) return fail('bundle_signing_key_unknown', `no configured bundle-signing key has kid "${sig.kid}"`);
    if (key.alg !== sig.alg) return fail('bundle_signature_invalid', `signature alg ${sig.alg} does not fit key "${sig.kid}" (${key.alg})`);
    if (!verifyBytes(sig.alg, key.publicKey, bytes, fromB64url(sig.value)!)) {
      return fail('bundle_signature_invalid', `the signature does not verify with key "${sig.kid}"`);
    }
  }

  if (opts.now >= bundle.expires_at) return fail('bundle_expired', `expired at ${bundle.expires_at}, now ${opts.now}`);
  if (bundle.issued_at > opts.now + BUNDLE_CLOCK_SKEW_S) {
    return fail('bundle_not_yet_valid', `issued_at ${bundle.issued_at} is more than ${BUNDLE_CLOCK_SKEW_S} s after now ${opts.now}`);
  }

  const sha256 = sha256hex(bytes);
  if (opts.minSerial !== undefined && bundle.serial < opts.minSerial) {
    return fail('bundle_rollback', `serial ${bundle.serial} is below the minimum ${opts.minSerial}`);
  }
  if (opts.current) {
    if (bundle.serial < opts.current.serial) {
      return fail('bundle_rollback', `serial ${bundle.serial} is below the serial in use ${opts.current.serial}`);
    }
    // Two different documents under one serial would let a stale copy pass for the current one.
    if (bundle.serial === opts.current.serial && sha256 !== opts.current.sha256) {
      return fail('bundle_rollback', `serial ${bundle.serial} is already in use with different content`);
    }
  }
  return { ok: true, bundle, sha256 };
}

function fail(code: BundleErrorCode, problem: string): BundleVerification {
  return { ok: false, code, problems: [problem] };
}

type Parsed = { ok: true; value: unknown } | { ok: false; problem: string };

function parse(json: unknown): Parsed {
  let text: string;
  let bytes: Uint8Array;
  if (typeof json === 'string') {
    text = json;
    bytes = Buffer.from(json, 'utf8');
  } else if (json instanceof Uint8Array) {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(json);
    } catch {
      return { ok: false, problem: '/: the file is not valid UTF-8' };
    }
    bytes = json;
  } else return { ok: true, value: json };
  const value = parseJsonObject(text);
  if (!value) return { ok: false, problem: '/: not a JSON object' };
  // docs/bundle.md §2: a reviewer reading the first of two same-named members and a verifier
  // keeping the last would be reading two different documents under one signature.
  if (hasDuplicateMembers(bytes, value)) return { ok: false, problem: '/: an object has two members with the same name' };
  return { ok: true, value };
}

interface ResolvedKey {
  readonly alg: 'EdDSA' | 'ES256';
  readonly publicKey: KeyObject;
}

function findKey(keys: readonly PublicJwk[], kid: string): ResolvedKey | undefined {
  for (const jwk of keys) {
    // Through the one import path: a misconfigured signing key (private, small order, another
    // spelling) is a caller mistake, not a property of the bundle, so it throws (a JwkError).
    const imported = checkPublicJwk(jwk, 'public');
    if ((jwk.kid ?? imported.jkt) !== kid) continue;
    return { alg: imported.alg, publicKey: imported.key };
  }
  return undefined;
}
