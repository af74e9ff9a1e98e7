/**
 * `POST /v1/passports` body validation: a pure function from the decoded JSON object to a typed
 * request, or a `request_invalid` refusal naming every problem at once. Unknown members are refused,
 * so a misspelt `lifetime_s` is an error rather than a silently ignored wish.
 */
import { ROUTE_ID, identityProblem, isIdentityUri, checkPublicJwk, type PublicJwk } from '../../core/src/server-api.js';
import type { BrokerConfig } from './config.js';
import { refuse, type Refusal } from './errors.js';
import type { PopInput } from './spiffe.js';

export interface PassportRequestBase {
  readonly audience: string;
  readonly route?: string;
  readonly holder: PublicJwk;
  readonly holderJkt: string;
  readonly lifetimeS: number;
  /** Whether the caller chose `lifetime_s` (it is bound into the PoP only then). */
  readonly lifetimeRequested: boolean;
  /** The caller asks for a reusable passport (`"reusable": true`, docs/broker.md). */
  readonly reusable: boolean;
}

export type PassportRequest =
  | (PassportRequestBase & { readonly kind: 'software'; readonly subject?: string })
  | (PassportRequestBase & { readonly kind: 'spiffe'; readonly svidChain: readonly string[]; readonly pop: PopInput });

const KNOWN = new Set(['audience', 'route', 'holder_jwk', 'lifetime_s', 'subject', 'svid_chain', 'pop', 'reusable']);
const POP_KNOWN = new Set(['iat', 'nonce', 'signature']);
const VISIBLE = /^[\x21-\x7e]+$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const MAX_PEM = 16_384;

export function parsePassportRequest(body: Record<string, unknown>, config: Pick<BrokerConfig, 'maxLifetimeS' | 'defaultLifetimeS' | 'spiffe' | 'reusable'>): PassportRequest | Refusal {
  const problems: string[] = [];
  for (const k of Object.keys(body)) if (!KNOWN.has(k)) problems.push(`${k}: unknown member`);

  const audience = body.audience;
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 256 || !VISIBLE.test(audience)) {
    problems.push('audience: required, 1-256 visible ASCII characters');
  }

  const route = body.route;
  if (route !== undefined && (typeof route !== 'string' || !ROUTE_ID.test(route))) {
    problems.push('route: must be a route id (lower-case letters, digits, ".", "_", "-"; at most 64)');
  }

  // The one import path (core/src/keys.ts): canonical base64url, a valid point not of small order,
  // no private member. What gets into the passport is the canonical bare form, never the JWK as sent.
  // When the key is the only problem the refusal is `holder_jwk_invalid` (docs/broker.md).
  let holder: { jwk: PublicJwk; jkt: string } | undefined;
  let holderBad = false;
  const jwk = body.holder_jwk;
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) {
    problems.push('holder_jwk: required, a public Ed25519 or P-256 JWK object');
  } else {
    try {
      holder = checkPublicJwk(jwk, 'public');
    } catch (err) {
      holderBad = true;
      problems.push(`holder_jwk: ${(err as Error).message}`);
    }
  }

  const reusable = body.reusable;
  if (reusable !== undefined && reusable !== true) problems.push('reusable: must be true when present');
  // A reusable passport may live up to reusable.max_lifetime_s (whether this caller may have one is decided with its subject).
  const maxLifetimeS = reusable === true && config.reusable ? config.reusable.maxLifetimeS : config.maxLifetimeS;
  const lt = body.lifetime_s;
  if (lt !== undefined && (typeof lt !== 'number' || !Number.isSafeInteger(lt) || lt < 1 || lt > maxLifetimeS)) {
    problems.push(`lifetime_s: must be an integer from 1 to ${maxLifetimeS}`);
  }

  const spiffe = body.svid_chain !== undefined || body.pop !== undefined;
  const subject = body.subject;
  if (subject !== undefined) {
    if (spiffe) problems.push('subject: not allowed with svid_chain (the subject is the SPIFFE ID)');
    // The passport's own syntax (docs/transcript-v1.md §4.2): a subject no verifier accepts is refused here, not minted.
    else if (typeof subject !== 'string' || !isIdentityUri(subject)) problems.push(`subject: ${typeof subject === 'string' ? identityProblem(subject) : 'must be a URI'}`);
  }

  let chain: string[] | undefined;
  let pop: PopInput | undefined;
  if (spiffe) {
    const max = config.spiffe?.maxChainLength ?? 8;
    const c = body.svid_chain;
    if (!Array.isArray(c) || c.length === 0 || c.length > max) problems.push(`svid_chain: required with pop, 1 to ${max} PEM certificates, leaf first`);
    else if (!c.every((p) => typeof p === 'string' && p.length > 0 && p.length <= MAX_PEM)) problems.push(`svid_chain: every element must be a PEM string of at most ${MAX_PEM} characters`);
    else chain = c as string[];

    const p = body.pop;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) problems.push('pop: required with svid_chain, an object {iat, nonce, signature}');
    else {
      const o = p as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!POP_KNOWN.has(k)) problems.push(`pop.${k}: unknown member`);
      if (typeof o.iat !== 'number' || !Number.isSafeInteger(o.iat) || o.iat < 0) problems.push('pop.iat: must be Unix seconds');
      if (typeof o.nonce !== 'string' || o.nonce.length < 16 || o.nonce.length > 128 || !B64URL.test(o.nonce)) {
        problems.push('pop.nonce: must be 16-128 base64url characters');
      }
      if (typeof o.signature !== 'string' || o.signature.length === 0 || o.signature.length > 1024 || !B64URL.test(o.signature)) {
        problems.push('pop.signature: must be base64url');
      }
      if (problems.length === 0) pop = { iat: o.iat as number, nonce: o.nonce as string, signature: o.signature as string };
    }
  }

  if (problems.length > 0 || !holder) return refuse(holderBad && problems.length === 1 ? 'holder_jwk_invalid' : 'request_invalid', problems.join('; '), problems);
  const base: PassportRequestBase = {
    audience: audience as string,
    ...(route !== undefined ? { route: route as string } : {}),
    holder: holder.jwk,
    holderJkt: holder.jkt,
    lifetimeS: (lt as number | undefined) ?? config.defaultLifetimeS,
    lifetimeRequested: lt !== undefined,
    reusable: reusable === true,
  };
  if (spiffe) return { ...base, kind: 'spiffe', svidChain: chain!, pop: pop! };
  return { ...base, kind: 'software', ...(subject !== undefined ? { subject: subject as string } : {}) };
}
