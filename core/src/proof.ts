/**
 * Proofs: the holder's signature over transcript-v1, made with the passport's `cnf` key.
 *
 * Wire form (header `x-trustplane-proof`): `v1.<base64url(params JSON)>.<base64url(signature)>`.
 * The params carry only what the verifier cannot observe itself: the creation time, the nonce, the
 * route the signer meant, the names of the bound headers, and the field-digest table used to name
 * a mismatching field. Everything else in the transcript the verifier rebuilds from the request and
 * the passport. The form has no "," so a comma-joined duplicate can never parse.
 */
import { randomBytes } from 'node:crypto';
import { b64url, fromB64url } from './encoding.js';
import { parseStrictJsonObject } from './strict-json.js';
import type { SigningKey } from './keys.js';
import { jwkThumbprint, signBytes } from './keys.js';
import { MAX_BOUND_HEADERS, buildTranscript, fieldDigests, isBindableHeaderName, isValidNonce, type Transcript, type TranscriptInput } from './transcript.js';
import type { ReasonCode } from './reasons.js';

export const PROOF_PREFIX = 'v1.';
export const MAX_PROOF_LENGTH = 4096;

export interface ProofParams {
  readonly ts: number;
  readonly nonce: string;
  readonly route: string;
  /** Bound header names: lower-case, sorted, unique. */
  readonly h: readonly string[];
  /** Field-digest table (transcript.fieldDigests), optional. */
  readonly fd?: Buffer;
}

export interface ParsedProof extends ProofParams {
  readonly signature: Buffer;
}

export type ProofParse = { ok: true; proof: ParsedProof } | { ok: false; reason: ReasonCode; detail: string };

const ROUTE_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const KNOWN = new Set(['ts', 'nonce', 'route', 'h', 'fd']);

export function newNonce(): string {
  return b64url(randomBytes(18));
}

export function encodeProof(params: ProofParams, signature: Uint8Array): string {
  const json: Record<string, unknown> = { ts: params.ts, nonce: params.nonce, route: params.route, h: params.h };
  if (params.fd) json.fd = b64url(params.fd);
  return `${PROOF_PREFIX}${b64url(Buffer.from(JSON.stringify(json)))}.${b64url(signature)}`;
}

export function parseProof(value: string): ProofParse {
  const bad = (detail: string): ProofParse => ({ ok: false, reason: 'proof_malformed', detail });
  if (value.length > MAX_PROOF_LENGTH) return bad('proof too long');
  if (!value.startsWith(PROOF_PREFIX)) return bad('proof must start with "v1."');
  const dot = value.indexOf('.', PROOF_PREFIX.length);
  if (dot < 0 || value.indexOf('.', dot + 1) !== -1) return bad('proof must have three dot-separated parts');
  const pj = fromB64url(value.slice(PROOF_PREFIX.length, dot));
  const sig = fromB64url(value.slice(dot + 1));
  if (!pj || !sig || sig.length === 0) return bad('proof parts must be base64url');
  const p = parseStrictJsonObject(pj);
  if (!p) return bad('proof params must be a JSON object (UTF-8, no duplicate members, plain integers)');
  // A parsed object has no prototype, so for-in sees exactly its own members.
  for (const k in p) if (!KNOWN.has(k)) return bad(`unknown proof param "${k.slice(0, 64)}"`);
  if (typeof p.ts !== 'number' || !Number.isSafeInteger(p.ts) || p.ts < 0) return bad('ts must be a non-negative integer');
  if (typeof p.nonce !== 'string' || !isValidNonce(p.nonce)) return bad('nonce must be 16-64 base64url characters');
  if (typeof p.route !== 'string' || !ROUTE_ID.test(p.route)) return bad('route must be a route id');
  const h = p.h as unknown[];
  if (!Array.isArray(h) || h.length > MAX_BOUND_HEADERS || !allStrings(h)) return bad(`h must be an array of at most ${MAX_BOUND_HEADERS} header names`);
  // transcript-v1 §5.2: every proof_malformed check comes before header_not_bindable, so the reason
  // never depends on where in `h` the two faults sit.
  for (let i = 1; i < h.length; i++) if (!(h[i - 1]! < h[i]!)) return bad('bound header names must be sorted and unique');
  let fd: Buffer | undefined;
  if (p.fd !== undefined) {
    fd = typeof p.fd === 'string' ? fromB64url(p.fd) : undefined;
    if (!fd) return bad('fd must be base64url');
  }
  for (let i = 0; i < h.length; i++) {
    if (!isBindableHeaderName(h[i]!)) return { ok: false, reason: 'header_not_bindable', detail: `header "${h[i]!.slice(0, 64)}" cannot be bound` };
  }
  const proof: { -readonly [K in keyof ParsedProof]: ParsedProof[K] } = { ts: p.ts, nonce: p.nonce, route: p.route, h, signature: sig };
  if (fd) proof.fd = fd;
  return { ok: true, proof };
}

function allStrings(list: unknown[]): list is string[] {
  for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') return false;
  return true;
}

/** Sign a transcript input with the holder key and return the proof header value. */
export function createProof(input: TranscriptInput, holder: SigningKey, withDigests = true): { proof: string; transcript: Transcript } {
  if (input.cnfJkt !== jwkThumbprint(holder.publicJwk)) throw new TypeError('the holder key is not the passport cnf key');
  const tr = buildTranscript(input);
  if (!tr.ok) throw new TypeError(`cannot sign this request: ${tr.reason}: ${tr.detail}`);
  const signature = signBytes(holder.alg, holder.privateKey, tr.value.bytes);
  const params: ProofParams = {
    ts: input.ts,
    nonce: input.nonce,
    route: input.routeId,
    h: input.headers.map(([n]) => n),
    ...(withDigests ? { fd: fieldDigests(tr.value) } : {}),
  };
  return { proof: encodeProof(params, signature), transcript: tr.value };
}
