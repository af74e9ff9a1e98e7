/**
 * Signing a request on the caller's side: the same transcript-v1 the verifier rebuilds, from the
 * request the caller is about to send. Used by the SDK, the CLI and the tests.
 */
import { sha256b64url } from './encoding.js';
import { parseCompact } from './jws.js';
import { jwkThumbprint, type SigningKey } from './keys.js';
import { createProof, newNonce } from './proof.js';
import type { Transcript } from './transcript.js';
import { HEADER, type PassportClaims } from './types.js';

export type HeaderInput = Iterable<readonly [string, string]> | Record<string, string | readonly string[]>;

export interface RequestToSign {
  readonly method: string;
  /** An absolute URL; or give `authority` and `pathAndQuery` to control the bytes exactly. */
  readonly url?: string | URL;
  readonly authority?: string;
  readonly pathAndQuery?: string;
  readonly headers?: HeaderInput;
  readonly body?: Uint8Array | string;
  /** base64url SHA-256 of the body, when the caller hashed it already (streams). */
  readonly bodySha256?: string;
}

export interface SignOptions {
  readonly passport: string;
  readonly holder: SigningKey;
  readonly route: string;
  /** Header names to bind; their values are taken from `headers`. */
  readonly bindHeaders?: readonly string[];
  readonly nowMs?: number;
  readonly nonce?: string;
  /** Include the field-digest table (default true): lets the verifier name a mismatching field. */
  readonly fieldDigests?: boolean;
}

export interface SignedRequest {
  /** The two headers to add: passport and proof. */
  readonly headers: { readonly [HEADER.passport]: string; readonly [HEADER.proof]: string };
  readonly transcript: Transcript;
}

/** Read the claims a signer needs from its own passport; no verification happens here. */
export function readPassportClaims(passport: string): PassportClaims {
  const jws = parseCompact(passport);
  if (!jws) throw new TypeError('passport is not a compact JWS');
  const c = jws.payload as unknown as PassportClaims;
  if (typeof c.aud !== 'string' || typeof c.jti !== 'string' || typeof c.key_binding !== 'string' || !c.cnf?.jwk) {
    throw new TypeError('passport lacks aud, jti, key_binding or cnf');
  }
  return c;
}

/** Lower-case name → comma-joined values, the way Envoy presents repeated headers. */
export function collectHeaders(input: HeaderInput | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!input) return out;
  const add = (name: string, value: string): void => {
    const n = name.toLowerCase();
    const v = value.replace(/^[ \t]+|[ \t]+$/g, '');
    const prev = out.get(n);
    out.set(n, prev === undefined ? v : `${prev},${v}`);
  };
  if (Symbol.iterator in input) {
    for (const [n, v] of input as Iterable<readonly [string, string]>) add(n, v);
  } else {
    for (const n of Object.keys(input)) {
      const v = (input as Record<string, string | readonly string[]>)[n]!;
      if (typeof v === 'string') add(n, v);
      else for (const x of v) add(n, x);
    }
  }
  return out;
}

export function signRequest(req: RequestToSign, o: SignOptions): SignedRequest {
  const claims = readPassportClaims(o.passport);
  let authority = req.authority;
  let pathAndQuery = req.pathAndQuery;
  if (req.url !== undefined) {
    const u = typeof req.url === 'string' ? new URL(req.url) : req.url;
    authority ??= u.host;
    pathAndQuery ??= `${u.pathname}${u.search}`;
  }
  if (authority === undefined || pathAndQuery === undefined) throw new TypeError('give url, or authority and pathAndQuery');
  const all = collectHeaders(req.headers);
  const names = [...new Set((o.bindHeaders ?? []).map((h) => h.toLowerCase()))].sort();
  const headers: [string, string][] = names.map((n) => {
    const v = all.get(n);
    if (v === undefined) throw new TypeError(`header "${n}" is to be bound but the request does not carry it`);
    return [n, v];
  });
  const bodySha256 = req.bodySha256 ?? sha256b64url(typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : (req.body ?? new Uint8Array(0)));
  const { proof, transcript } = createProof(
    {
      method: req.method,
      authority,
      pathAndQuery,
      headers,
      bodySha256,
      nonce: o.nonce ?? newNonce(),
      audience: claims.aud,
      routeId: o.route,
      jti: claims.jti,
      passportSha256: sha256b64url(o.passport),
      ts: Math.floor((o.nowMs ?? Date.now()) / 1000),
      keyBinding: claims.key_binding,
      cnfJkt: jwkThumbprint(claims.cnf.jwk),
    },
    o.holder,
    o.fieldDigests ?? true,
  );
  return { headers: { [HEADER.passport]: o.passport, [HEADER.proof]: proof }, transcript };
}
