/**
 * Properties of the whole decision: on random requests the signer and the verifier agree (`ok`),
 * even after the request went through what Envoy may do to it (percent-encoding of unreserved
 * characters, escape case, UTF-8 encoding of raw characters, upper-case host and an explicit default
 * port, comma-joined repeated headers, the wasm filter's body hash instead of the body); and changing
 * any single bound field after signing fails with that field's own reason code and consumes nothing.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import { b64url, sha256b64url } from '../../core/src/encoding.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { generateSigningKey, jwkThumbprint, signBytes, type SigningKey } from '../../core/src/keys.js';
import { encodeProof, newNonce } from '../../core/src/proof.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { readPassportClaims, signRequest } from '../../core/src/sign-request.js';
import { buildTranscript, canonicalAuthority, canonicalPath, canonicalQuery, fieldDigests, splitPathAndQuery, type TranscriptInput } from '../../core/src/transcript.js';
import { HEADER, type BodyObservation, type KeyBinding, type RequestView } from '../../core/src/types.js';
import { ISSUER, NOW_MS, NOW_S, TRUST_DOMAIN, makeWorld, passport, route, type World } from '../support/world.js';

const BROKER = 'https://broker.example.test';
const OTHER_AUDIENCE = 'https://ledger.example.test';
const TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+.^_`|~-".split('');
const UNRESERVED = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~'.split(''));
const PATH_LITERAL = new Set("!$&'()*+,;=:@/".split(''));
const QUERY_LITERAL = new Set("!$'()*+,;:@/?&=".split(''));
const HEADER_NAMES = ['x-a', 'x-b', 'x-tenant', 'accept', 'x-multi'];

// ---- generators ----------------------------------------------------------------------------

/** A deterministic coin from a fast-check seed, so shrinking stays reproducible. */
function coins(seed: number): () => boolean {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x & 1) === 1;
  };
}

const hex2 = (b: number, lower: boolean): string => {
  const h = b.toString(16).padStart(2, '0');
  return lower ? h : h.toUpperCase();
};

const method = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 10 });

/** One character that may appear raw in a signer's component: no structure, no controls, no "%". */
const rawGrapheme = (forbidden: RegExp) => fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((g) => !forbidden.test(g));
const escape = (refused: number[]) =>
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).filter(([b]) => !refused.includes(b)).map(([b, lower]) => `%${hex2(b, lower)}`);

const segmentUnit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...'abcXYZ09-._~'.split('')) },
  { weight: 1, arbitrary: fc.constantFrom(..."!$&'()*+,;=:@".split('')) },
  { weight: 2, arbitrary: rawGrapheme(/[/?#%\\\x00-\x1f\x7f]/) },
  { weight: 2, arbitrary: escape([0x2f, 0x5c, 0x00]) },
);
const segment = fc.array(segmentUnit, { minLength: 1, maxLength: 6 }).map((u) => u.join(''));
/** Paths transcript-v1 accepts: non-empty segments, no dot segments after decoding, optional trailing "/". */
const path = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([segs, slash]) => `/${segs.join('/')}${slash ? '/' : ''}`)
  .filter((p) => canonicalPath(p).ok);

const queryUnit = (extra: string) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...`abc09-._~${extra}`.split('')) },
    { weight: 1, arbitrary: fc.constantFrom(..."!$'()*+,;:@/?".split('')) },
    { weight: 1, arbitrary: rawGrapheme(/[&=#%\x00-\x1f\x7f]/) },
    { weight: 1, arbitrary: escape([0x00]) },
  );
const queryKey = fc.oneof(fc.constantFrom('a', 'b', 'ä', 'k'), fc.array(queryUnit(''), { minLength: 1, maxLength: 5 }).map((u) => u.join('')));
const queryValue = fc.option(fc.array(queryUnit('='), { maxLength: 8 }).map((u) => u.join('')), { nil: undefined });
/** Random queries with repeated keys, keys without "=", "+" and empty parameters. */
const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 5 }).map((ps) => ps.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&'));

const headerValue = fc.string({ unit: fc.oneof(fc.constantFrom(...' \tab,;=/"AZ09'.split('')), rawGrapheme(/[\x00-\x08\x0a-\x1f\x7f]/)), maxLength: 12 });
/** Bound headers (at least one), each sent 1-3 times in random name case, plus an unbound one. */
const headers = fc
  .tuple(fc.subarray(HEADER_NAMES, { minLength: 1 }), fc.array(fc.array(headerValue, { minLength: 1, maxLength: 3 }), { minLength: HEADER_NAMES.length, maxLength: HEADER_NAMES.length }), fc.boolean())
  .map(([names, values, upper]) => ({
    bound: names,
    pairs: [...names.flatMap((n, i) => values[i]!.map((v) => [upper ? n.toUpperCase() : n, v] as [string, string])), ['x-unbound', 'whatever'] as [string, string]],
  }));

const host = fc.array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 3 }).map((l) => `${l.join('.')}.test`);
const authority = fc.tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })).map(([h, p]) => (p === undefined ? h : `${h}:${p}`));

interface Req {
  readonly method: string;
  readonly authority: string;
  readonly pathAndQuery: string;
  readonly bound: readonly string[];
  readonly pairs: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
  readonly seed: number;
  readonly useFilter: boolean;
  readonly es256Issuer: boolean;
  readonly es256Holder: boolean;
}

const request: fc.Arbitrary<Req> = fc.record({
  method,
  authority,
  pathAndQuery: fc.tuple(path, query, fc.boolean()).map(([p, q, mark]) => (q === '' && !mark ? p : `${p}?${q}`)),
  hs: headers,
  body: fc.uint8Array({ maxLength: 256 }),
  seed: fc.integer(),
  useFilter: fc.boolean(),
  es256Issuer: fc.boolean(),
  es256Holder: fc.boolean(),
}).map(({ hs, ...r }) => ({ ...r, bound: hs.bound, pairs: hs.pairs }));

// ---- what Envoy presents -------------------------------------------------------------------

/** An equivalent spelling of a component: transcript-v1 must canonicalise both to the same bytes. */
function reencode(raw: string, literal: ReadonlySet<string>, coin: () => boolean): string {
  let out = '';
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === '%') {
      const b = parseInt(raw.slice(i + 1, i + 3), 16);
      const c = String.fromCharCode(b);
      out += b < 128 && UNRESERVED.has(c) && coin() ? c : `%${hex2(b, coin())}`;
      i += 3;
      continue;
    }
    const cp = raw.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    i += ch.length;
    if (cp < 128 && UNRESERVED.has(ch)) out += coin() ? `%${hex2(cp, coin())}` : ch;
    else if (cp < 128 && literal.has(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${hex2(b, coin())}`;
  }
  return out;
}

function envoyAuthority(a: string, coin: () => boolean): string {
  const spelled = [...a].map((c) => (coin() ? c.toUpperCase() : c)).join('');
  return a.includes(':') || !coin() ? spelled : `${spelled}:443`;
}

/** Envoy's header map: lower-case names, values stripped of OWS, repeats joined with ",". */
function envoyHeaders(pairs: readonly (readonly [string, string])[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [n, v] of pairs) {
    const name = n.toLowerCase();
    const value = v.replace(/^[ \t]+|[ \t]+$/g, '');
    const prev = out.get(name);
    out.set(name, prev === undefined ? value : `${prev},${value}`);
  }
  return out;
}

function observe(body: Uint8Array, useFilter: boolean): BodyObservation {
  if (useFilter) return { kind: 'filter_header', value: sha256b64url(body), length: String(body.length) };
  return body.length > 0 ? { kind: 'bytes', bytes: body, partial: false } : { kind: 'empty' };
}

function envoyView(r: Req, passportToken: string, proof: string): RequestView {
  const coin = coins(r.seed);
  const [p, q] = splitPathAndQuery(r.pathAndQuery);
  const pathAndQuery = reencode(p, PATH_LITERAL, coin) + (r.pathAndQuery.includes('?') ? `?${reencode(q, QUERY_LITERAL, coin)}` : '');
  const headers = envoyHeaders(r.pairs);
  headers.set(HEADER.passport, passportToken);
  headers.set(HEADER.proof, proof);
  return { method: r.method, scheme: 'https', authority: envoyAuthority(r.authority, coin), path: pathAndQuery, headers, body: observe(r.body, r.useFilter) };
}

// ---- the world -----------------------------------------------------------------------------

interface PropWorld {
  readonly w: World;
  readonly p256Holder: SigningKey;
  /** Same bundle, but route prop-a is for OTHER_AUDIENCE. */
  readonly otherAudience: CompiledBundle;
}

function propWorld(): PropWorld {
  const sources = [
    { issuer: ISSUER, trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/**' },
    { issuer: BROKER, trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/**' },
  ];
  const w = makeWorld({ routes: [route('prop-a', { match: { path: '/**' }, allowed_sources: sources, body: { mode: 'bound', hash_source: 'filter' } }), route('prop-b', { match: { methods: ['PATCH'], path: '/**' }, allowed_sources: sources, body: { mode: 'bound', hash_source: 'filter' } })] });
  const otherAudience = compileBundle({ ...w.doc, routes: w.doc.routes.map((r) => (r.id === 'prop-a' ? { ...r, audience: OTHER_AUDIENCE } : r)) });
  return { w, p256Holder: generateSigningKey('ES256'), otherAudience };
}

interface Issued {
  readonly passport: string;
  readonly holder: SigningKey;
  readonly jti: string;
}

function issue(pw: PropWorld, r: Req, over: { jti?: string; audience?: string; keyBinding?: KeyBinding; lifetimeS?: number } = {}): Issued {
  const holder = r.es256Holder ? pw.p256Holder : pw.w.holder;
  const key = r.es256Issuer ? pw.w.attestedKey : pw.w.issuerKey;
  const token = passport(pw.w, {
    key,
    issuer: r.es256Issuer ? BROKER : ISSUER,
    holder: holder.publicJwk,
    keyBinding: over.keyBinding ?? 'software',
    ...(over.jti !== undefined ? { jti: over.jti } : {}),
    ...(over.audience !== undefined ? { audience: over.audience } : {}),
    ...(over.lifetimeS !== undefined ? { lifetimeS: over.lifetimeS } : {}),
  });
  return { passport: token, holder, jti: readPassportClaims(token).jti };
}

/** The real signer, exactly as a caller uses it. */
function sign(r: Req, p: Issued, nonce?: string): string {
  const s = signRequest(
    { method: r.method, authority: r.authority, pathAndQuery: r.pathAndQuery, headers: r.pairs, body: r.body },
    { passport: p.passport, holder: p.holder, route: 'prop-a', bindHeaders: r.bound.map((n) => n.toUpperCase()), nowMs: NOW_MS, ...(nonce ? { nonce } : {}) },
  );
  return s.headers[HEADER.proof];
}

/** A proof over a transcript that differs from the honest one in the given fields (a lying signer). */
function signOver(r: Req, p: Issued, over: Partial<TranscriptInput>): string {
  const claims = readPassportClaims(p.passport);
  const hs = envoyHeaders(r.pairs);
  const input: TranscriptInput = {
    method: r.method,
    authority: r.authority,
    pathAndQuery: r.pathAndQuery,
    headers: [...r.bound].sort().map((n) => [n, hs.get(n)!] as const),
    bodySha256: sha256b64url(r.body),
    nonce: newNonce(),
    audience: claims.aud,
    routeId: 'prop-a',
    jti: claims.jti,
    passportSha256: sha256b64url(p.passport),
    ts: NOW_S,
    keyBinding: claims.key_binding,
    cnfJkt: jwkThumbprint(claims.cnf.jwk),
    ...over,
  };
  const tr = buildTranscript(input);
  assert.ok(tr.ok);
  return encodeProof({ ts: input.ts, nonce: input.nonce, route: input.routeId, h: input.headers.map(([n]) => n), fd: fieldDigests(tr.value) }, signBytes(p.holder.alg, p.holder.privateKey, tr.value.bytes));
}

async function decide(v: RequestView, bundle: CompiledBundle, store: MemoryReplayStore): Promise<ReasonCode> {
  return (await verifyRequest({ view: v, bundle, store, nowMs: NOW_MS })).reason;
}

// ---- mutations -----------------------------------------------------------------------------

interface Mutated {
  readonly view: RequestView;
  readonly bundle?: CompiledBundle;
}

type Mutation = (pw: PropWorld, r: Req, p: Issued, proof: string, pick: number) => Mutated;

const otherNonce = (pick: number): string => b64url(Buffer.from(`nonce-${pick}-${'x'.repeat(12)}`));

const MUTATIONS: Record<string, [ReasonCode, Mutation]> = {
  method: ['method_mismatch', (_pw, r, p, proof, pick) => ({ view: { ...envoyView(r, p.passport, proof), method: r.method + TOKEN_CHARS[Math.abs(pick) % TOKEN_CHARS.length]! } })],
  authority: ['authority_mismatch', (_pw, r, p, proof) => ({ view: { ...envoyView(r, p.passport, proof), authority: `x${r.authority}` } })],
  path: [
    'path_mismatch',
    (_pw, r, p, proof, pick) => {
      const [pa, q] = splitPathAndQuery(r.pathAndQuery);
      const extra = `seg${Math.abs(pick) % 100}`;
      const moved = `${pa.endsWith('/') ? pa : `${pa}/`}${extra}${r.pathAndQuery.includes('?') ? `?${q}` : ''}`;
      return { view: envoyView({ ...r, pathAndQuery: moved }, p.passport, proof) };
    },
  ],
  query: [
    'query_mismatch',
    (_pw, r, p, proof, pick) => {
      const moved = `${r.pathAndQuery}${r.pathAndQuery.includes('?') ? '&' : '?'}z${Math.abs(pick) % 10}=${pick}`;
      return { view: envoyView({ ...r, pathAndQuery: moved }, p.passport, proof) };
    },
  ],
  header: [
    'header_mismatch',
    (_pw, r, p, proof, pick) => {
      const target = r.bound[Math.abs(pick) % r.bound.length]!;
      // Changing a value the proof binds: add a visible character at the end of the last copy.
      let last = -1;
      r.pairs.forEach(([n], i) => void (n.toLowerCase() === target && (last = i)));
      const pairs = r.pairs.map(([n, v], i) => (i === last ? ([n, `${v}!`] as const) : ([n, v] as const)));
      return { view: envoyView({ ...r, pairs }, p.passport, proof) };
    },
  ],
  body: [
    'body_mismatch',
    (_pw, r, p, proof, pick) => {
      const body = Buffer.from(r.body);
      if (body.length === 0) return { view: envoyView({ ...r, body: Buffer.from([pick & 255]) }, p.passport, proof) };
      const i = Math.abs(pick) % body.length;
      body[i] = body[i]! ^ (1 + (Math.abs(pick) % 255));
      return { view: envoyView({ ...r, body }, p.passport, proof) };
    },
  ],
  nonce: ['nonce_mismatch', (_pw, r, p, proof, pick) => ({ view: envoyView(r, p.passport, rewriteProof(proof, (x) => void (x.nonce = otherNonce(pick)))) })],
  ts: [
    'proof_time_mismatch',
    (_pw, r, p, proof, pick) => {
      const delta = (Math.abs(pick) % 20) + 1;
      return { view: envoyView(r, p.passport, rewriteProof(proof, (x) => void (x.ts = NOW_S + (pick % 2 === 0 ? delta : -delta)))) };
    },
  ],
  // The route phase compares the route Envoy names with the one the proof names before any transcript work.
  // (prop-b covers PATCH on every path, so Envoy naming it for a PATCH is a consistent route choice.)
  route: ['route_mismatch', (_pw, r, p, proof) => ({ view: { ...envoyView(r, p.passport, proof), routeId: 'prop-b', method: 'PATCH' } })],
  // A route Envoy names must cover the request: prop-b takes only PATCH.
  route_request: ['route_request_mismatch', (_pw, r, p, proof) => ({ view: { ...envoyView(r, p.passport, proof), routeId: 'prop-b', method: r.method === 'PATCH' ? 'GET' : r.method } })],
  // A re-issued passport (same jti) for another audience: the route phase refuses it first.
  audience_policy: ['audience_mismatch', (pw, r, p, proof) => ({ view: envoyView(r, issue(pw, r, { jti: p.jti, audience: OTHER_AUDIENCE }).passport, proof) })],
  // Same, against a bundle whose route is for that audience: the transcript's aud line differs
  // first (before the passport-hash line, which differs too) and names another passport
  // (docs/transcript-v1.md §8: the route-group audience_mismatch is never a diagnosis).
  audience_transcript: [
    'passport_binding_mismatch',
    (pw, r, p, proof) => ({ view: envoyView(r, issue(pw, r, { jti: p.jti, audience: OTHER_AUDIENCE }).passport, proof), bundle: pw.otherAudience }),
  ],
  passport_swap: ['passport_binding_mismatch', (pw, r, _p, proof) => ({ view: envoyView(r, issue(pw, r).passport, proof) })],
  passport_reissued: ['passport_binding_mismatch', (pw, r, p, proof) => ({ view: envoyView(r, issue(pw, r, { jti: p.jti, lifetimeS: 59 }).passport, proof) })],
  // A passport re-issued with another key-binding class is another passport: its hash line comes
  // first in the transcript, so the engine names the passport binding.
  key_binding_reissued: ['passport_binding_mismatch', (pw, r, p, proof) => ({ view: envoyView(r, issue(pw, { ...r, es256Issuer: true }, { jti: p.jti, keyBinding: 'remote_kms' }).passport, proof) })],
  // The same passport with a proof whose key-binding line differs (another class, or another holder thumbprint).
  key_binding_class: ['key_binding_mismatch', (_pw, r, p) => ({ view: envoyView(r, p.passport, signOver(r, p, { keyBinding: 'hardware_local' })) })],
  key_binding_holder: ['key_binding_mismatch', (pw, r, p) => ({ view: envoyView(r, p.passport, signOver(r, p, { cnfJkt: jwkThumbprint((r.es256Holder ? pw.w.holder : pw.p256Holder).publicJwk) })) })],
};

function rewriteProof(proof: string, change: (params: Record<string, unknown>) => void): string {
  const [, params, sig] = proof.split('.');
  const p = JSON.parse(Buffer.from(params!, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(p);
  return `v1.${b64url(Buffer.from(JSON.stringify(p)))}.${sig!}`;
}

// ---- the properties ------------------------------------------------------------------------

describe('decision engine properties (fast-check)', function () {
  this.timeout(60_000);
  let pw: PropWorld;
  before(() => {
    pw = propWorld();
  });

  it('the generated requests are what they claim: canonical paths and queries, distinct spellings', () => {
    fc.assert(
      fc.property(request, (r) => {
        const [p, q] = splitPathAndQuery(r.pathAndQuery);
        assert.ok(canonicalPath(p).ok && canonicalQuery(q).ok && canonicalAuthority(r.authority).ok);
        const v = envoyView(r, 'p', 'q');
        const [vp, vq] = splitPathAndQuery(v.path);
        assert.deepEqual([canonicalPath(vp), canonicalQuery(vq), canonicalAuthority(v.authority)], [canonicalPath(p), canonicalQuery(q), canonicalAuthority(r.authority)]);
      }),
      { numRuns: 300 },
    );
    // Not vacuous: the generator does reach the cases the properties are about.
    const sample = fc.sample(request, { numRuns: 500, seed: 42 });
    const seen = (f: (r: Req) => boolean): number => sample.filter(f).length;
    const repeatedKey = (r: Req): boolean => {
      const keys = splitPathAndQuery(r.pathAndQuery)[1].split('&').filter(Boolean).map((kv) => kv.split('=')[0]);
      return new Set(keys).size < keys.length;
    };
    const counts = {
      unicodePath: seen((r) => /[^\x00-\x7f]/.test(splitPathAndQuery(r.pathAndQuery)[0])),
      escapedPath: seen((r) => /%[0-9a-fA-F]{2}/.test(splitPathAndQuery(r.pathAndQuery)[0])),
      repeatedQueryKey: seen(repeatedKey),
      repeatedHeader: seen((r) => r.pairs.length > new Set(r.pairs.map(([n]) => n)).size),
      nonTrivialMethod: seen((r) => !/^[A-Z]+$/.test(r.method)),
      binaryBody: seen((r) => r.body.some((b) => b > 0x7f)),
    };
    for (const [what, n] of Object.entries(counts)) assert.ok(n >= 25, `${what}: only ${n} of 500`);
  });

  it('signer and verifier agree on random requests as Envoy presents them: ok, and then jti_replay', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const store = new MemoryReplayStore({ maxEntries: 4, generationStartMs: -Infinity });
        const p = issue(pw, r);
        const v = envoyView(r, p.passport, sign(r, p));
        assert.equal(await decide(v, pw.w.bundle, store), 'ok');
        assert.equal(await decide(v, pw.w.bundle, store), 'jti_replay');
      }),
      { numRuns: 500 },
    );
  });

  const LABELS: Record<string, string> = {
    audience_policy: 'the audience (re-issued passport, route phase)',
    audience_transcript: 'the audience (re-issued passport, route for that audience: transcript)',
    passport_swap: 'the passport (another jti)',
    passport_reissued: 'the passport (same jti, re-issued)',
    key_binding_reissued: 'the key binding by re-issuing the passport',
    key_binding_class: 'the key-binding class the proof binds',
    key_binding_holder: 'the holder thumbprint the proof binds',
    route: 'the route (Envoy context route id)',
    ts: 'the proof time within the window',
  };
  for (const [field, [code, mutate]] of Object.entries(MUTATIONS)) {
    it(`changing ${LABELS[field] ?? `the ${field}`} after signing fails with ${code} and consumes nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(request, fc.integer(), async (r, pick) => {
          const store = new MemoryReplayStore({ maxEntries: 4, generationStartMs: -Infinity });
          const p = issue(pw, r);
          const proof = sign(r, p);
          const m = mutate(pw, r, p, proof, pick);
          assert.equal(await decide(m.view, m.bundle ?? pw.w.bundle, store), code);
          assert.equal(store.size, 0);
          // The untouched request is still good: the deny did not burn the jti.
          assert.equal(await decide(envoyView(r, p.passport, proof), pw.w.bundle, store), 'ok');
        }),
        { numRuns: 100 },
      );
    });
  }
});
