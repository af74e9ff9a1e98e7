/**
 * The caller SDK: a signer that obtains a fresh passport per request (from a local issuer key, the
 * broker's Unix socket, or a function of yours) — or, with `reusable`, one reusable passport that it
 * keeps until shortly before it expires (docs/transcript-v1.md §15) — hashes the body, builds
 * transcript-v1, signs with the holder key and returns the headers to attach. `fetch` wraps the
 * platform fetch with it.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { requestPassport } from '../../broker/src/client.js';
import { spiffePop } from '../../broker/src/client.js';
import { importPrivateJwk, issuePassport, readPassportClaims, signRequest, type PrivateJwk, type SigningKey, type HeaderInput, type KeyBinding } from '../../core/src/index.js';

export type PassportSource =
  /** Mint locally with an issuer key the verifier's bundle trusts (development, tests, own issuers). */
  | {
      readonly kind: 'issuer';
      readonly key: SigningKey | PrivateJwk;
      readonly issuer: string;
      readonly subject: string;
      readonly trustDomain: string;
      readonly keyBinding?: KeyBinding;
      readonly lifetimeS?: number;
    }
  /** Ask the broker on its Unix socket; with `svid`, over the SPIFFE path for attested_workload. */
  | {
      readonly kind: 'broker';
      readonly socketPath: string;
      readonly lifetimeS?: number;
      readonly svid?: { readonly chainPem: readonly string[]; readonly key: KeyObject; readonly brokerIssuer: string };
    }
  /** Anything else: called once per request (with `reusable`: once per passport) with what the passport must be for. */
  | { readonly kind: 'custom'; readonly get: (p: { audience: string; route: string; holder: SigningKey; reusable: boolean }) => Promise<string> | string };

export interface SignerOptions {
  /** The holder key (`cnf`): a SigningKey or a private JWK. */
  readonly key: SigningKey | PrivateJwk;
  readonly passport: PassportSource;
  readonly audience: string;
  /** The bundle route id requests are for (can be overridden per request). */
  readonly route: string;
  /** Header names to bind by default (e.g. content-type, idempotency keys). */
  readonly bindHeaders?: readonly string[];
  readonly clock?: () => number;
  /**
   * Obtain one reusable passport per route and present it with every request, each with its own
   * proof, until `refreshBeforeS` seconds before it expires (default: 30 s, or half its lifetime if
   * that is shorter); then obtain the next. The route must accept reusable passports
   * (docs/bundle.md §1.2.6), else every request is `passport_reuse_not_allowed`. Absent: a fresh
   * per-request passport for every request.
   */
  readonly reusable?: boolean | { readonly refreshBeforeS?: number };
}

export interface SignInput {
  readonly method: string;
  readonly url: string | URL;
  readonly headers?: HeaderInput;
  readonly body?: string | Uint8Array;
  /** When the body was hashed already (base64url SHA-256). */
  readonly bodySha256?: string;
  readonly route?: string;
  readonly bindHeaders?: readonly string[];
}

export interface Signer {
  readonly holder: SigningKey;
  /** The passport and proof headers for this request. */
  sign(input: SignInput): Promise<Record<string, string>>;
  /** fetch(), signed. Stream bodies are read once to hash them, then sent as bytes. */
  fetch(input: string | URL, init?: SignedRequestInit): Promise<Response>;
}

export interface SignedRequestInit extends Omit<RequestInit, 'body'> {
  readonly body?: string | Uint8Array | ArrayBuffer | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null;
  readonly route?: string;
  readonly bindHeaders?: readonly string[];
}

/** A private JWK goes through the one import path (core/src/keys.ts); its problem names the option. */
function asKey(k: SigningKey | PrivateJwk, option: string): SigningKey {
  if (k !== null && typeof k === 'object' && 'privateKey' in k) return k;
  try {
    return importPrivateJwk(k);
  } catch (e) {
    throw new TypeError(`${option}: ${(e as Error).message}`);
  }
}

export function createSigner(o: SignerOptions): Signer {
  const holder = asKey(o.key, 'createSigner key');
  const clock = o.clock ?? Date.now;
  const source = o.passport;
  const issuerKey = source.kind === 'issuer' ? asKey(source.key, 'createSigner passport.key') : undefined;
  const reusable = o.reusable !== undefined && o.reusable !== false;
  const refreshBeforeS = typeof o.reusable === 'object' ? o.reusable.refreshBeforeS : undefined;
  if (refreshBeforeS !== undefined && !(Number.isSafeInteger(refreshBeforeS) && refreshBeforeS >= 0)) {
    throw new TypeError('createSigner reusable.refreshBeforeS: must be a non-negative integer (seconds)');
  }
  /** Per route: the reusable passport in use and when to replace it (unix ms), or the one being obtained. */
  const held = new Map<string, { passport: string; refreshAtMs: number } | Promise<string>>();

  /** The reusable passport for `route`: the one held while it is not due for refresh; one fetch at a time. */
  async function reusablePassportFor(route: string): Promise<string> {
    const h = held.get(route);
    if (h instanceof Promise) return h;
    if (h !== undefined && clock() < h.refreshAtMs) return h.passport;
    // One catch after the whole chain: a passport the source returned but that cannot be held (not
    // a JWS, not reusable) is dropped like a failed fetch, not kept as a rejection for every request.
    const pending = obtain(route, true)
      .then((passport) => {
        const c = readPassportClaims(passport);
        // Held and presented many times, a per-request passport would be allowed once and then
        // jti_replay: refuse it here, naming the source, rather than send requests bound to fail.
        if (c.reusable !== true) throw new TypeError(`createSigner reusable: the ${source.kind} passport source returned a per-request passport (no "reusable": true claim)`);
        const before = refreshBeforeS ?? Math.min(30, Math.floor((c.exp - c.iat) / 2));
        held.set(route, { passport, refreshAtMs: (c.exp - before) * 1000 });
        return passport;
      })
      .catch((error: unknown) => {
        held.delete(route);
        throw error;
      });
    held.set(route, pending);
    return pending;
  }

  function passportFor(route: string): Promise<string> {
    return reusable ? reusablePassportFor(route) : obtain(route, false);
  }

  async function obtain(route: string, reuse: boolean): Promise<string> {
    switch (source.kind) {
      case 'issuer':
        return issuePassport({
          key: issuerKey!,
          issuer: source.issuer,
          subject: source.subject,
          audience: o.audience,
          trustDomain: source.trustDomain,
          holder: holder.publicJwk,
          keyBinding: source.keyBinding ?? 'software',
          ...(source.lifetimeS !== undefined ? { lifetimeS: source.lifetimeS } : {}),
          ...(reuse ? { reusable: true } : {}),
          nowMs: clock(),
        });
      case 'broker': {
        const body: Record<string, unknown> = { audience: o.audience, route, holder_jwk: holder.publicJwk };
        if (source.lifetimeS !== undefined) body.lifetime_s = source.lifetimeS;
        if (reuse) body.reusable = true;
        if (source.svid) {
          body.svid_chain = source.svid.chainPem;
          body.pop = spiffePop({
            svidKey: source.svid.key,
            leafPem: source.svid.chainPem[0]!,
            brokerIssuer: source.svid.brokerIssuer,
            audience: o.audience,
            holderJwk: holder.publicJwk,
            route,
            ...(source.lifetimeS !== undefined ? { lifetimeS: source.lifetimeS } : {}),
            ...(reuse ? { reusable: true } : {}),
            nowMs: clock(),
          });
        }
        return (await requestPassport(source.socketPath, body)).passport;
      }
      case 'custom':
        return source.get({ audience: o.audience, route, holder, reusable: reuse });
    }
  }

  async function sign(input: SignInput): Promise<Record<string, string>> {
    const route = input.route ?? o.route;
    const passport = await passportFor(route);
    const signed = signRequest(
      {
        method: input.method,
        url: input.url,
        ...(input.headers ? { headers: input.headers } : {}),
        ...(input.body !== undefined ? { body: input.body } : {}),
        ...(input.bodySha256 ? { bodySha256: input.bodySha256 } : {}),
      },
      { passport, holder, route, bindHeaders: input.bindHeaders ?? o.bindHeaders ?? [], nowMs: clock() },
    );
    return { ...signed.headers };
  }

  async function signedFetch(input: string | URL, init: SignedRequestInit = {}): Promise<Response> {
    const { route, bindHeaders, body, ...rest } = init;
    const bytes = await readBody(body);
    const headers = new Headers(rest.headers);
    const pairs: [string, string][] = [];
    headers.forEach((v, k) => pairs.push([k, v]));
    const method = (rest.method ?? 'GET').toUpperCase();
    const credentials = await sign({
      method,
      url: input,
      headers: pairs,
      body: bytes,
      ...(route ? { route } : {}),
      ...(bindHeaders ? { bindHeaders } : {}),
    });
    for (const [k, v] of Object.entries(credentials)) headers.set(k, v);
    return fetch(input, { ...rest, method, headers, ...(bytes.length > 0 ? { body: bytes } : {}) });
  }

  return { holder, sign, fetch: signedFetch };
}

async function readBody(body: SignedRequestInit['body']): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  const chunks: Uint8Array[] = [];
  const iterable: AsyncIterable<Uint8Array> =
    Symbol.asyncIterator in body ? (body as AsyncIterable<Uint8Array>) : streamIterable(body as ReadableStream<Uint8Array>);
  for await (const c of iterable) chunks.push(c);
  return Buffer.concat(chunks);
}

async function* streamIterable(s: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = s.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** base64url SHA-256 of a body, for callers that hash streams themselves. */
export function bodySha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('base64url');
}
