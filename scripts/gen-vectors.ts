/**
 * Generates test/vectors/transcript-v1.json, the transcript-v1 conformance vectors
 * (docs/transcript-v1.md, "Test vectors").
 *
 *   npx tsc -p . && node dist/scripts/gen-vectors.js           # write the file
 *   npx tsc -p . && node dist/scripts/gen-vectors.js --check   # exit 1 if the committed file differs
 *
 * Everything is fixed: keys, clock, nonces, jtis. Ed25519 signatures are deterministic (RFC 8032),
 * so a run reproduces the file byte for byte. ES256 signatures are randomised in node:crypto; to keep
 * the file stable an ES256 proof is taken over from the existing file when it still verifies over the
 * same transcript with the same proof parameters, and re-signed only otherwise.
 *
 * Every vector is checked against the full decision engine before it is written: a positive vector
 * must be allowed, a negative one must be denied with exactly its reason code. The generator throws
 * rather than write a file that disagrees with the code.
 *
 * The keys below are TEST KEYS, published on purpose. Never trust them anywhere.
 */
import { PACKAGE_ROOT } from '../core/src/package-root.js';
import { vectorRequestView, vectorSurroundings } from '../test/vectors/format.js';
import type { EnvoyRequest, VectorEnvironment, NegativeVector as NegativeOf, PositiveVector as PositiveOf, Signing as SigningOf, VectorBody, VectorHeaders } from '../test/vectors/format.js';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileBundle, type CompiledBundle } from '../core/src/bundle/compile.js';
import type { BundleDocument } from '../core/src/bundle/types.js';
import { validateBundle } from '../core/src/bundle/validate.js';
import { b64url, fromB64url, sha256, sha256b64url, sha256hex } from '../core/src/encoding.js';
import { verifyRequest } from '../core/src/engine/verify.js';
import { signCompact } from '../core/src/jws.js';
import { checkPublicJwk, importPrivateJwk, jwkThumbprint, JwkError, signBytes, verifyBytes, type PrivateJwk, type SigningKey } from '../core/src/keys.js';
import { issuePassport, PASSPORT_TYP } from '../core/src/passport.js';
import { createProof, encodeProof, parseProof } from '../core/src/proof.js';
import { readPassportClaims, signRequest } from '../core/src/signer.js';
import { buildTranscript, fieldDigests, type TranscriptInput } from '../core/src/transcript.js';
import { HEADER, type KeyBinding } from '../core/src/types.js';
import { be32, edNonCanonical, edNotOnCurve, fromBe, otherSpellings, P256_P, smallOrderEncodings, trailingBitSpellings } from '../test/support/hostile-keys.js';

// ---------------------------------------------------------------------------------------------
// Fixed inputs

/** 2026-01-01T00:00:00Z. The verifier's clock for every vector. */
const NOW = 1_767_225_600;
const NOW_MS = NOW * 1000;
const ISS = 'https://issuer.example.com';
const TD = 'example.org';
const SUB = 'spiffe://example.org/ns/payments/sa/client';
const AUD = 'https://api.example.com';
const API = 'api.example.com';

type KeyName = 'issuer' | 'issuer_software' | 'holder_ed25519' | 'holder_p256' | 'holder_other' | 'attacker' | 'holder_revoked';

const KEY_JWKS: Record<KeyName, { kid: string; role: string; jwk: PrivateJwk }> = {
  issuer: {
    kid: 'vec-issuer-1',
    role: 'passport issuer; in the vector bundle with max_key_binding attested_workload',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: '0tH_hgj8vtF_B_hYaed0YZv6JLX3Y9anYOn-2fAVbDg', d: 'WMy3NlVC1owN1R5C0YugfE3Axl_Ll8HQ8pZLjd23s1Q' },
  },
  issuer_software: {
    kid: 'vec-issuer-software',
    role: 'passport issuer; in the vector bundle with max_key_binding software',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: 'Zdhd7c-nx5lFsqJZYmUtYT-WyzyUspaUlHImfx4t_zQ', d: 'fmeGSPXXpprEJW93-To0SAofNZ5TY1m6HpAvhUYRfgM' },
  },
  holder_ed25519: {
    kid: 'vec-holder-ed25519',
    role: 'holder (cnf) key, EdDSA proofs',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: '6shRQdMZ_8rMjNQae1a7Ss3zcHfpn9YkuwLazznloqc', d: 'bp2LfWdc4QWY-v_HgaDoNwtQB2EfHNHRiasQtJQRF38' },
  },
  holder_p256: {
    kid: 'vec-holder-p256',
    role: 'holder (cnf) key, ES256 proofs',
    jwk: {
      kty: 'EC',
      crv: 'P-256',
      x: 'tv2mLZAHckCdxfz9KreeToFCOW7AsblOp5M-HdfoaE0',
      y: 'pquoFk3LStVgt0SZ_Tcw8Nvldovx1-_81U3NitJRNCM',
      d: '4pCdBbjNq92gGPzGSh_Tpdx9er8HRGRaf_BV6-jzz_o',
    },
  },
  holder_other: {
    kid: 'vec-holder-other',
    role: 'a second holder key, for passport-swap vectors',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: '-ooUofF6p1mAYAslHTOPwBFI1g6kFOybmFsPBXAs-DI', d: 'J0-kqAujEtDVBOj4zzI41509aceTu4kHQO1Z-HIKP2U' },
  },
  holder_revoked: {
    kid: 'vec-holder-revoked',
    role: 'a holder (cnf) key whose RFC 7638 thumbprint the vector bundle revokes (revocations.cnf_thumbprints)',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: 'xZMiOYnobdo2NWLXvb1NrPFClMREqNPbDtYsJOrKbrU', d: 'mQzamE_Cq0m9rs9__zhTkhBXfBBlynTmtzfaVxIw1Y0' },
  },
  attacker: {
    kid: 'vec-attacker',
    role: 'a key nobody trusts: forged passports and proofs',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: 'mnYP6Bir6Y3_Z-OUmDS_E9I-RPXMFC2kHa2-vWN930Q', d: 'uAOd0mff96_hdgRsMV6hZOpNz89rIlgkei00cuqoQN0' },
  },
};

const KEYS = Object.fromEntries(
  Object.entries(KEY_JWKS).map(([name, k]) => [name, importPrivateJwk(k.jwk, k.kid)]),
) as Record<KeyName, SigningKey>;

function publicOf(name: KeyName): Record<string, string> {
  const { d: _private, ...pub } = KEY_JWKS[name].jwk;
  return { ...pub };
}

/** A revoked subject: its percent-encoded re-spelling must never pass for another subject (docs/transcript-v1.md §4.2). */
const REVOKED_SUB = 'spiffe://example.org/ns/revoked/sa/client';

const ANY_WORKLOAD = [{ issuer: ISS, trust_domain: TD, subject: 'spiffe://example.org/ns/*/sa/*' }];

/** Unsigned: the vectors test transcript-v1 and the decision engine, not bundle signatures. */
const BUNDLE: BundleDocument = {
  format: 'trustplane-bundle-v1',
  serial: 1,
  issued_at: NOW - 600,
  expires_at: NOW + 30 * 86_400,
  keys: [
    { kid: 'vec-issuer-1', issuer: ISS, trust_domain: TD, max_key_binding: 'attested_workload', jwk: publicOf('issuer') as never },
    { kid: 'vec-issuer-software', issuer: ISS, trust_domain: TD, max_key_binding: 'software', jwk: publicOf('issuer_software') as never },
  ],
  routes: [
    {
      id: 'search',
      match: { methods: ['GET'], path: '/search', authority: API },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'realtime',
      bound_headers: [],
      body: { mode: 'empty', hash_source: 'filter' },
    },
    {
      id: 'payments-create',
      match: { methods: ['POST'], path: '/v1/payments', authority: API },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'realtime',
      bound_headers: ['content-type'],
      body: { mode: 'bound', max_bytes: 1024, hash_source: 'filter' },
    },
    {
      id: 'items-get',
      match: { methods: ['GET'], path: '/v1/items/*' },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'bounded',
      bound_headers: [],
    },
    {
      id: 'files',
      match: { path: '/files/**' },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'bounded',
      bound_headers: [],
      body: { mode: 'bound', hash_source: 'filter' },
    },
    {
      id: 'kms',
      match: { path: '/kms/**' },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'remote_kms',
      freshness_class: 'bounded',
      bound_headers: [],
    },
    {
      id: 'admin',
      match: { path: '/admin/**' },
      audience: AUD,
      allowed_sources: [{ ...ANY_WORKLOAD[0]!, min_key_binding: 'hardware_local' }],
      required_key_binding: 'hardware_local',
      freshness_class: 'realtime',
      bound_headers: [],
    },
    {
      id: 'secure',
      match: { path: '/secure/**' },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'attested_workload',
      freshness_class: 'realtime',
      bound_headers: [],
    },
    {
      id: 'peer',
      match: { methods: ['GET'], path: '/peer/**' },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'bounded',
      bound_headers: [],
      require_peer_principal: true,
    },
    {
      id: 'docs',
      match: { methods: ['GET'], path: '/docs/**' },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'offline-ok',
      bound_headers: [],
    },
    {
      id: 'reports',
      match: { path: '/reports/**' },
      audience: 'https://reports.example.com',
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'bounded',
      bound_headers: [],
    },
    {
      id: 'sessions',
      match: { path: '/sessions/**', authority: API },
      audience: AUD,
      allowed_sources: ANY_WORKLOAD,
      required_key_binding: 'software',
      freshness_class: 'bounded',
      bound_headers: [],
      reusable_passport: { max_lifetime_s: 900 },
    },
  ],
  revocations: { kids: [], jtis: ['vec-revoked-jti'], subjects: [REVOKED_SUB], cnf_thumbprints: [jwkThumbprint(KEYS.holder_revoked.publicJwk)] },
};

// ---------------------------------------------------------------------------------------------
// Vector shapes (docs/transcript-v1.md, "Test vectors", describes them for other implementations)

type Headers = VectorHeaders;
type Body = VectorBody;
type Signing = SigningOf<KeyName>;
type PositiveVector = PositiveOf<KeyName>;
type NegativeVector = NegativeOf<KeyName>;

// ---------------------------------------------------------------------------------------------
// Building blocks

function nonceFor(id: string): string {
  return b64url(sha256(`transcript-v1 vector nonce ${id}`)).slice(0, 24);
}

interface PassportOptions {
  key?: KeyName;
  holder?: KeyName;
  keyBinding?: KeyBinding;
  aud?: string;
  jti: string;
  iat?: number;
  lifetimeS?: number;
  sub?: string;
  iss?: string;
  td?: string;
  reusable?: boolean;
}

function passport(o: PassportOptions): string {
  return issuePassport({
    key: KEYS[o.key ?? 'issuer'],
    issuer: o.iss ?? ISS,
    subject: o.sub ?? SUB,
    audience: o.aud ?? AUD,
    trustDomain: o.td ?? TD,
    holder: KEYS[o.holder ?? 'holder_ed25519'].publicJwk,
    keyBinding: o.keyBinding ?? 'software',
    lifetimeS: o.lifetimeS ?? 60,
    nowMs: (o.iat ?? NOW - 10) * 1000,
    jti: o.jti,
    ...(o.reusable ? { reusable: true } : {}),
  });
}

/** One reusable passport (§15) that several vectors present, each with its own proof. */
function reusablePassport(): string {
  return passport({ jti: 'vec-reusable-1', reusable: true, iat: NOW - 120, lifetimeS: 900 });
}

/** The claims issuePassport would write, for hand-made (forged) tokens. */
function claimsFor(jti: string, holder: KeyName = 'holder_ed25519'): Record<string, unknown> {
  const h = KEYS[holder].publicJwk;
  return {
    iss: ISS,
    sub: SUB,
    aud: AUD,
    iat: NOW - 10,
    exp: NOW + 50,
    jti,
    trust_domain: TD,
    cnf: { jwk: { kty: h.kty, crv: h.crv, x: h.x } },
    key_binding: 'software',
  };
}

function jsonB64(v: unknown): string {
  return b64url(Buffer.from(JSON.stringify(v)));
}

interface SignSpec {
  id: string;
  holder?: KeyName;
  passport?: string;
  route: string;
  bind?: string[];
  ts?: number;
  fieldDigests?: boolean;
  method: string;
  authority?: string;
  path: string;
  headers?: Headers;
  body?: Buffer;
}

function signing(s: SignSpec): Signing {
  const holder = s.holder ?? 'holder_ed25519';
  return {
    holder,
    alg: KEYS[holder].alg,
    route: s.route,
    bind_headers: s.bind ?? [],
    nonce: nonceFor(s.id),
    ts: s.ts ?? NOW - 5,
    field_digests: s.fieldDigests ?? true,
    passport: s.passport ?? passport({ jti: `vec-${s.id}`, holder }),
    method: s.method,
    authority: s.authority ?? API,
    path: s.path,
    headers: s.headers ?? [],
    body_base64: (s.body ?? Buffer.alloc(0)).toString('base64'),
  };
}

function sign(g: Signing): { proof: string; transcript: string } {
  const signed = signRequest(
    { method: g.method, authority: g.authority, pathAndQuery: g.path, headers: g.headers, body: Buffer.from(g.body_base64, 'base64') },
    { passport: g.passport, holder: KEYS[g.holder], route: g.route, bindHeaders: g.bind_headers, nowMs: g.ts * 1000, nonce: g.nonce, fieldDigests: g.field_digests },
  );
  return { proof: signed.headers[HEADER.proof], transcript: signed.transcript.bytes.toString('utf8') };
}

/** The transcript input a signer holds for `g` (what signRequest computes), for hand-made proofs. */
function transcriptInput(g: Signing, cnfJkt?: string): TranscriptInput {
  // Read leniently: hostile passports (duplicate members, fractional numbers) still get an honest proof.
  const c = JSON.parse(fromB64url(g.passport.split('.')[1]!)!.toString('utf8')) as ReturnType<typeof readPassportClaims>;
  const values = new Map<string, string>();
  for (const [n, v] of g.headers) {
    const prev = values.get(n.toLowerCase());
    const t = v.replace(/^[ \t]+|[ \t]+$/g, '');
    values.set(n.toLowerCase(), prev === undefined ? t : `${prev},${t}`);
  }
  return {
    method: g.method,
    authority: g.authority,
    pathAndQuery: g.path,
    headers: [...g.bind_headers].sort().map((n) => [n, values.get(n) ?? ''] as const),
    bodySha256: sha256b64url(Buffer.from(g.body_base64, 'base64')),
    nonce: g.nonce,
    // A hostile passport may carry a non-string aud; the proof over it is never reached.
    audience: String(c.aud),
    routeId: g.route,
    jti: c.jti,
    passportSha256: sha256b64url(g.passport),
    ts: g.ts,
    keyBinding: c.key_binding,
    cnfJkt: cnfJkt ?? jwkThumbprint(c.cnf.jwk),
  };
}

interface EnvoyOverrides {
  method?: string;
  authority?: string;
  path?: string;
  headers?: Headers;
  body?: Body;
  route_id?: string;
  peer_principal?: string;
  passport?: string;
  proof?: string;
}

/**
 * How Envoy presents the signed request to ext_authz: names lower-cased, each value with its
 * surrounding OWS removed by the codec, the two credential headers appended, the buffered body.
 */
function envoy(g: Signing, proof: string, o: EnvoyOverrides = {}): EnvoyRequest {
  const headers: Headers = o.headers ?? g.headers.map(([n, v]) => [n.toLowerCase(), v.replace(/^[ \t]+|[ \t]+$/g, '')]);
  const body: Body = o.body ?? (g.body_base64 === '' ? { source: 'empty' } : { source: 'bytes', base64: g.body_base64 });
  return {
    method: o.method ?? g.method,
    scheme: 'https',
    authority: o.authority ?? g.authority,
    path: o.path ?? g.path,
    headers: [...headers, [HEADER.passport, o.passport ?? g.passport], [HEADER.proof, o.proof ?? proof]],
    body,
    ...(o.route_id !== undefined ? { route_id: o.route_id } : {}),
    ...(o.peer_principal !== undefined ? { peer_principal: o.peer_principal } : {}),
  };
}


let compiled: CompiledBundle;

async function decide(r: EnvoyRequest, before = 0, env?: VectorEnvironment): Promise<{ reason: string; transcriptSha256: string | undefined }> {
  const { bundle, store } = vectorSurroundings(env, compiled, NOW_MS);
  for (let i = 0; i < before; i++) {
    const d = await verifyRequest({ view: vectorRequestView(r), bundle, store, nowMs: NOW_MS });
    if (d.reason !== 'ok') throw new Error(`earlier presentation was denied: ${d.reason}`);
  }
  const d = await verifyRequest({ view: vectorRequestView(r), bundle, store, nowMs: NOW_MS });
  await store.close();
  return { reason: d.reason, transcriptSha256: d.transcriptSha256 };
}

/** Replace proof parameters while keeping the signature: what an attacker in the middle can do. */
function tamperProof(proof: string, change: (p: Record<string, unknown>) => void): string {
  const [, params, sig] = proof.split('.');
  const p = JSON.parse(fromB64url(params!)!.toString('utf8')) as Record<string, unknown>;
  change(p);
  return `v1.${jsonB64(p)}.${sig}`;
}

// ---------------------------------------------------------------------------------------------
// Positive vectors

interface PositiveSpec extends SignSpec {
  description: string;
  envoy?: EnvoyOverrides;
}

const JSON_BODY = Buffer.from('{"amount":"12.50","currency":"EUR","to":"acct_7f3a"}\n', 'utf8');
const BINARY_BODY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const LARGE_BODY = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 31 + 7) & 0xff));

const POSITIVE: PositiveSpec[] = [
  {
    id: 'reusable-get',
    description: 'a reusable passport (§15) on a route with reusable_passport: a GET with its own proof',
    route: 'sessions',
    method: 'GET',
    path: '/sessions/s-1?view=full',
    passport: reusablePassport(),
  },
  {
    id: 'reusable-post',
    description: 'the same reusable passport as reusable-get, another request with its own proof (nonce, ts, transcript)',
    route: 'sessions',
    method: 'POST',
    path: '/sessions/s-1/events',
    headers: [['Content-Type', 'application/json']],
    body: Buffer.from('{"event":"ping"}', 'utf8'),
    ts: NOW - 2,
    passport: reusablePassport(),
  },
  { id: 'get-simple', description: 'GET with a query, no bound headers, no body', route: 'search', method: 'GET', path: '/search?q=envoy' },
  {
    id: 'post-json',
    description: 'POST with a JSON body and the route-required content-type bound',
    route: 'payments-create',
    method: 'POST',
    path: '/v1/payments',
    headers: [['Content-Type', 'application/json']],
    bind: ['content-type'],
    body: JSON_BODY,
  },
  {
    id: 'unicode-path',
    description: 'raw UTF-8 in the signed path; Envoy presents it percent-encoded in lower-case hex; both canonicalise to upper-case escapes',
    route: 'files',
    method: 'GET',
    path: '/files/caf\u00e9/na\u00efve \u2603.txt',
    envoy: { path: '/files/caf%c3%a9/na%c3%afve%20%e2%98%83.txt' },
  },
  {
    id: 'encoded-unreserved',
    description: 'escapes of unreserved characters in the signed path; Envoy normalised them away',
    route: 'files',
    method: 'GET',
    path: '/files/%7Euser/%41%62c-%5f.%2D',
    envoy: { path: '/files/~user/Abc-_.-' },
  },
  {
    id: 'reserved-literals',
    description: 'sub-delims other than ";", ":" and "@" stay literal in a path; "%25" stays encoded',
    route: 'files',
    method: 'GET',
    path: "/files/a=b,c/x@y:z/!$&'()*+,/100%25",
  },
  {
    id: 'encoded-reserved',
    description: 'escapes of reserved characters keep their meaning and are upper-cased',
    route: 'files',
    method: 'GET',
    path: '/files/a%3db/%3f%23%5b%5d',
  },
  { id: 'trailing-slash', description: 'a trailing "/" is a distinct resource and is kept', route: 'files', method: 'GET', path: '/files/dir/' },
  { id: 'one-segment-route', description: 'a "/*" route matches one segment', route: 'items-get', method: 'GET', path: '/v1/items/42' },
  { id: 'query-sort', description: 'query parameters sorted by key; a key without "=" keeps no "="', route: 'search', method: 'GET', path: '/search?q=x&b=2&a=1&flag' },
  { id: 'query-stable', description: 'equal keys keep their order', route: 'search', method: 'GET', path: '/search?q=3&q=1&q=2&a=z' },
  {
    id: 'query-plus-forms',
    description: '"+", "%20" and "%2B" are three different things; a raw space becomes "%20"',
    route: 'search',
    method: 'GET',
    path: '/search?p=a+b&s=a%20b&t=a%2bb',
  },
  { id: 'query-empty-params', description: 'empty parameters are dropped; "k=" keeps its "="', route: 'search', method: 'GET', path: '/search?&q=1&&e=&' },
  { id: 'query-empty-key', description: 'a parameter with an empty key ("=x") is kept and sorts first', route: 'search', method: 'GET', path: '/search?q=1&=x' },
  { id: 'query-empty-key-and-value', description: '"=" alone is a parameter with an empty key and an empty value', route: 'search', method: 'GET', path: '/search?a&=' },
  { id: 'query-only-separators', description: '"?&" holds only empty parameters: the query line is empty', route: 'search', method: 'GET', path: '/search?&' },
  { id: 'query-key-only-and-empty-key', description: '"a&=b": a key-only parameter and an empty-key parameter', route: 'search', method: 'GET', path: '/search?a&=b' },
  {
    id: 'query-escapes',
    description: 'unreserved escapes decoded, others upper-cased, UTF-8 encoded, "=" in a value literal, "?" and "/" literal',
    route: 'search',
    method: 'GET',
    path: '/search?q=%7e%41&u=caf\u00e9&v=a=b&w=/x?y&%3d=eq',
    envoy: { path: '/search?q=%7e%41&u=caf%C3%A9&v=a=b&w=/x?y&%3d=eq' },
  },
  {
    id: 'repeated-header',
    description: 'a header sent twice is bound as Envoy joins it: values in order, joined with a bare ","',
    route: 'files',
    method: 'GET',
    path: '/files/report',
    headers: [
      ['X-Tag', 'alpha'],
      ['X-Tag', 'beta gamma'],
    ],
    bind: ['x-tag'],
  },
  {
    id: 'header-ows',
    description: 'leading and trailing spaces and tabs are not part of a header value',
    route: 'files',
    method: 'GET',
    path: '/files/report',
    headers: [['X-Scope', ' \t read write  \t']],
    bind: ['x-scope'],
    envoy: { headers: [['x-scope', '\t read write ']] },
  },
  {
    id: 'header-escaping',
    description: 'free-text escaping of a header value: "%", non-ASCII and control bytes become %XX',
    route: 'files',
    method: 'GET',
    path: '/files/report',
    headers: [['X-Note', '100% caf\u00e9, "quoted"\u0001']],
    bind: ['x-note'],
  },
  {
    id: 'many-headers',
    description: 'several bound headers, listed in byte order whatever order they were given in; unbound headers ignored',
    route: 'payments-create',
    method: 'POST',
    path: '/v1/payments',
    headers: [
      ['X-Request-Scope', 'payments:write'],
      ['Content-Type', 'application/json; charset=utf-8'],
      ['User-Agent', 'vector-client/1.0'],
      ['Idempotency-Key', '5b0f5a8e-1d7c-4f7e-9d55-0e3d4f1c2a10'],
    ],
    bind: ['x-request-scope', 'content-type', 'idempotency-key'],
    body: JSON_BODY,
  },
  {
    id: 'header-comma-in-value',
    description: 'a single value that holds ", " is bound as it is; only the ends are trimmed',
    route: 'files',
    method: 'GET',
    path: '/files/report',
    headers: [['Accept', 'text/html, application/json;q=0.9']],
    bind: ['accept'],
  },
  {
    id: 'default-port-443',
    description: 'the signer used host:443; the default port is not part of the canonical authority',
    route: 'search',
    method: 'GET',
    path: '/search?q=port',
    authority: 'api.example.com:443',
    envoy: { authority: 'api.example.com' },
  },
  { id: 'default-port-80', description: 'port 80 is dropped as well', route: 'files', method: 'GET', path: '/files/plain', authority: 'api.example.com:80' },
  {
    id: 'port-leading-zeros',
    description: 'leading zeros of a port are dropped; other ports are kept',
    route: 'files',
    method: 'GET',
    path: '/files/port',
    authority: 'api.example.com:08443',
    envoy: { authority: 'api.example.com:8443' },
  },
  {
    id: 'uppercase-authority',
    description: 'the authority is compared in lower case',
    route: 'search',
    method: 'GET',
    path: '/search?q=case',
    authority: 'API.Example.COM',
  },
  {
    id: 'ipv6-authority',
    description: 'an IPv6 literal keeps its brackets, is lower-cased and keeps a non-default port',
    route: 'files',
    method: 'GET',
    path: '/files/v6',
    authority: '[2001:DB8::1]:8443',
  },
  { id: 'ipv4-authority', description: 'an IPv4 address with a port', route: 'files', method: 'GET', path: '/files/v4', authority: '10.0.0.7:8080' },
  {
    id: 'empty-body-post',
    description: 'a POST without a body binds the SHA-256 of zero bytes; Envoy buffers bodies and sent none',
    route: 'files',
    method: 'POST',
    path: '/files/touch',
  },
  {
    id: 'binary-body',
    description: 'every byte value once; Envoy sends the buffered body as raw_body',
    route: 'files',
    method: 'PUT',
    path: '/files/blob.bin',
    headers: [['Content-Type', 'application/octet-stream']],
    bind: ['content-type'],
    body: BINARY_BODY,
  },
  {
    id: 'large-body',
    description: 'a 20000-byte body',
    route: 'files',
    method: 'PUT',
    path: '/files/large.bin',
    body: LARGE_BODY,
  },
  {
    id: 'body-filter-header',
    description: 'the verifier never sees the body: the trusted wasm filter hashed it into x-trustplane-body-sha256',
    route: 'payments-create',
    method: 'POST',
    path: '/v1/payments',
    headers: [['Content-Type', 'application/json']],
    bind: ['content-type'],
    body: JSON_BODY,
    envoy: {
      headers: [
        ['content-type', 'application/json'],
        [HEADER.bodySha256, sha256b64url(JSON_BODY)],
        [HEADER.bodyLength, String(JSON_BODY.length)],
      ],
      body: { source: 'filter_header' },
    },
  },
  {
    id: 'empty-body-route',
    description: 'a route with body mode "empty" binds the empty-body hash when Envoy neither buffers nor runs the filter and the request declares no body',
    route: 'search',
    method: 'GET',
    path: '/search?q=nobody',
    envoy: { body: { source: 'unavailable' } },
  },
  {
    id: 'kb-remote-kms',
    description: 'a remote_kms passport on a route that requires remote_kms',
    route: 'kms',
    method: 'POST',
    path: '/kms/sign',
    body: Buffer.from('digest=abc', 'utf8'),
  },
  {
    id: 'kb-hardware-local',
    description: 'a hardware_local passport on a route (and source rule) requiring hardware_local',
    route: 'admin',
    method: 'DELETE',
    path: '/admin/users/17',
  },
  {
    id: 'kb-attested-workload',
    description: 'an attested_workload passport on a route requiring attested_workload',
    route: 'secure',
    method: 'GET',
    path: '/secure/vault?item=db-password',
  },
  {
    id: 'kb-stronger-than-required',
    description: 'a class above the route minimum is accepted',
    route: 'files',
    method: 'GET',
    path: '/files/strong',
  },
  {
    id: 'es256-get',
    description: 'P-256 holder key: ES256 proof (r||s, 64 bytes); only verification is checked, ECDSA signatures are randomised',
    holder: 'holder_p256',
    route: 'search',
    method: 'GET',
    path: '/search?q=p256',
  },
  {
    id: 'es256-post',
    description: 'P-256 holder key with a body and a bound header',
    holder: 'holder_p256',
    route: 'payments-create',
    method: 'POST',
    path: '/v1/payments',
    headers: [['Content-Type', 'application/json']],
    bind: ['content-type'],
    body: JSON_BODY,
  },
  {
    id: 'route-from-envoy',
    description: 'Envoy names the route through context_extensions (trustplane_route); its methods and path cover the request',
    route: 'docs',
    method: 'GET',
    path: '/docs/anything/here',
    envoy: { route_id: 'docs' },
  },
  {
    id: 'override-header-bound',
    description: 'a method-override header the proof binds is allowed: the caller signed it',
    route: 'files',
    method: 'POST',
    path: '/files/a',
    headers: [['X-HTTP-Method-Override', 'PATCH']],
    bind: ['x-http-method-override'],
  },
  {
    id: 'namespace-header-ignored',
    description: 'a client-sent x-trustplane-* header the proof cannot bind is ignored by the decision (the allow response removes it)',
    route: 'files',
    method: 'GET',
    path: '/files/a',
    headers: [['X-Trustplane-Reason', 'ok']],
  },
  {
    id: 'offline-ok-old-proof',
    description: 'an offline-ok route accepts a proof made 500 s ago',
    route: 'docs',
    method: 'GET',
    path: '/docs/guide',
    ts: NOW - 500,
  },
  {
    id: 'no-field-digests',
    description: 'a proof without the optional fd table verifies the same way',
    route: 'files',
    method: 'GET',
    path: '/files/nofd',
    fieldDigests: false,
  },
  {
    id: 'lowercase-method',
    description: 'the method is a case-sensitive token and is bound as sent',
    route: 'files',
    method: 'patch',
    path: '/files/x',
    body: Buffer.from('x', 'utf8'),
  },
  // ---- bodies (docs/transcript-v1.md §10): what each observation of the body allows
  {
    id: 'filter-length-at-max',
    description: 'the trusted filter reports exactly body.max_bytes (1024) bytes: allowed',
    route: 'payments-create',
    method: 'POST',
    path: '/v1/payments',
    headers: [['Content-Type', 'application/json']],
    bind: ['content-type'],
    body: Buffer.alloc(1024, 0x62),
    envoy: {
      headers: [
        ['content-type', 'application/json'],
        [HEADER.bodySha256, sha256b64url(Buffer.alloc(1024, 0x62))],
        [HEADER.bodyLength, '1024'],
      ],
      body: { source: 'filter_header' },
    },
  },
  {
    id: 'empty-route-filter-empty',
    description: 'a route that takes no body: the trusted filter reports the empty hash and length 0',
    route: 'search',
    method: 'GET',
    path: '/search?q=filter',
    envoy: {
      headers: [
        [HEADER.bodySha256, sha256b64url(Buffer.alloc(0))],
        [HEADER.bodyLength, '0'],
      ],
      body: { source: 'filter_header' },
    },
  },
  {
    id: 'empty-route-buffered-nothing',
    description: 'a route that takes no body: Envoy buffered zero bytes and marked them complete (x-envoy-auth-partial-body: false)',
    route: 'search',
    method: 'GET',
    path: '/search?q=h2',
    envoy: { headers: [['x-envoy-auth-partial-body', 'false']], body: { source: 'bytes', base64: '' } },
  },
];

const KB_FOR: Record<string, KeyBinding> = {
  'kb-remote-kms': 'remote_kms',
  'kb-hardware-local': 'hardware_local',
  'kb-attested-workload': 'attested_workload',
  'kb-stronger-than-required': 'hardware_local',
};

async function positive(spec: PositiveSpec, previous: Map<string, PositiveVector>): Promise<PositiveVector> {
  const holder = spec.holder ?? 'holder_ed25519';
  const kb = KB_FOR[spec.id];
  const g = signing({ ...spec, ...(kb ? { passport: passport({ jti: `vec-${spec.id}`, holder, keyBinding: kb }) } : {}) });
  const first = sign(g);
  const transcript = first.transcript;
  let proof = first.proof;
  if (g.alg === 'ES256') {
    // Keep an earlier ES256 signature when it still holds for exactly these bytes and parameters.
    const prev = previous.get(spec.id);
    const prevProof = prev ? parseProof(prev.proof) : undefined;
    if (
      prev &&
      prevProof?.ok &&
      prev.transcript === transcript &&
      prev.proof.split('.')[1] === proof.split('.')[1] &&
      verifyBytes('ES256', KEYS[holder].publicKey, Buffer.from(transcript, 'utf8'), prevProof.proof.signature)
    ) {
      proof = prev.proof;
    }
  }
  const request = envoy(g, proof, spec.envoy);
  const d = await decide(request);
  const hex = sha256hex(Buffer.from(transcript, 'utf8'));
  if (d.reason !== 'ok') throw new Error(`positive vector ${spec.id} was denied: ${d.reason}`);
  if (d.transcriptSha256 !== hex) throw new Error(`positive vector ${spec.id}: the verifier rebuilt another transcript`);
  const parsed = parseProof(proof);
  if (!parsed.ok) throw new Error(`positive vector ${spec.id}: unparsable proof`);
  return {
    id: spec.id,
    description: spec.description,
    signing: g,
    request,
    transcript,
    transcript_sha256: hex,
    proof,
    signature: b64url(parsed.proof.signature),
    signature_check: g.alg === 'EdDSA' ? 'exact' : 'verify',
  };
}

// ---------------------------------------------------------------------------------------------
// Negative vectors

interface NegativeCase {
  id: string;
  description: string;
  reason: string;
  build: () => { signing?: Signing; request: EnvoyRequest; presentations_before?: number; environment?: VectorEnvironment };
}

/** A signed request (files route unless `spec` says otherwise) and its honest Envoy presentation. */
function signed(id: string, spec: Partial<SignSpec> = {}): { g: Signing; proof: string } {
  const g = signing({ id, route: 'files', method: 'GET', path: '/files/a?x=1', ...spec });
  return { g, proof: sign(g).proof };
}

function tampered(id: string, o: EnvoyOverrides, spec: Partial<SignSpec> = {}): { signing: Signing; request: EnvoyRequest } {
  const { g, proof } = signed(id, spec);
  return { signing: g, request: envoy(g, proof, o) };
}

/** A request that carries `token` as its passport, with a proof the holder made over it. */
function withPassport(id: string, token: string): { signing: Signing; request: EnvoyRequest } {
  const g = signing({ id, route: 'files', method: 'GET', path: '/files/a', passport: token });
  const proof = encodeProof(
    { ts: g.ts, nonce: g.nonce, route: g.route, h: [] },
    signBytes('EdDSA', KEYS.holder_ed25519.privateKey, buildOk(transcriptInput(g)).bytes),
  );
  return { signing: g, request: envoy(g, proof) };
}

function buildOk(input: TranscriptInput): { bytes: Buffer } {
  const t = buildTranscript(input);
  if (!t.ok) throw new Error(`cannot build transcript: ${t.reason}`);
  return t.value;
}

// ---- keys (docs/transcript-v1.md §4.1): hostile cnf keys in passports the trusted issuer signed

/** The RFC 7638 text hashed as given, the way a verifier without the §4.1 rules would. */
function lenientJkt(jwk: Record<string, unknown>): string {
  return sha256b64url(
    jwk.kty === 'EC' ? `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}` : `{"crv":${JSON.stringify(jwk.crv)},"kty":"OKP","x":${JSON.stringify(jwk.x)}}`,
  );
}

/** One signature that verifies over every message for the identity point: R = (0, 1), S = 0. */
const IDENTITY_UNIVERSAL_SIGNATURE = Buffer.concat([Buffer.from([1]), Buffer.alloc(63)]);

/**
 * A passport from the trusted issuer whose `cnf` is `cnf` as given, and the proof an attacker can
 * make for it: signed by `signer` over the transcript a lenient verifier would rebuild, or the
 * universal signature of the identity point.
 */
function withCnf(id: string, cnf: unknown, signer: KeyName | 'identity'): { signing: Signing; request: EnvoyRequest } {
  const token = signCompact({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: 'vec-issuer-1' }, { ...claimsFor(`vec-${id}`), cnf }, 'EdDSA', KEYS.issuer.privateKey);
  if (signer !== 'identity' && KEYS[signer].alg !== 'EdDSA') throw new Error('withCnf: ES256 proofs are not reproducible; use "identity"');
  const holder: KeyName = signer === 'identity' ? 'holder_ed25519' : signer;
  const g = signing({ id, route: 'files', method: 'GET', path: '/files/a', passport: token, holder });
  const jwk = (cnf as { jwk: Record<string, unknown> }).jwk;
  const bytes = buildOk(transcriptInput(g, lenientJkt(jwk))).bytes;
  const signature = signer === 'identity' ? IDENTITY_UNIVERSAL_SIGNATURE : signBytes(KEYS[signer].alg, KEYS[signer].privateKey, bytes);
  return { signing: g, request: envoy(g, encodeProof({ ts: g.ts, nonce: g.nonce, route: g.route, h: [] }, signature)) };
}

const HOLDER_X = KEY_JWKS.holder_ed25519.jwk.x;
const REVOKED_X = KEY_JWKS.holder_revoked.jwk.x;
const edCnf = (x: string): { jwk: Record<string, string> } => ({ jwk: { kty: 'OKP', crv: 'Ed25519', x } });

const KEY_NEGATIVE: NegativeCase[] = [
  ...trailingBitSpellings(HOLDER_X).map(
    (x, i): NegativeCase => ({
      id: `cnf-trailing-bits-${i + 1}`,
      description: `cnf x spelt with non-zero unused bits ("${x.slice(-1)}" for "${HOLDER_X.slice(-1)}"): the same bytes to a lenient decoder, another thumbprint`,
      reason: 'passport_cnf_invalid',
      build: () => withCnf(`cnf-trailing-bits-${i + 1}`, edCnf(x), 'holder_ed25519'),
    }),
  ),
  { id: 'cnf-padded', description: 'cnf x with "=" padding', reason: 'passport_cnf_invalid', build: () => withCnf('cnf-padded', edCnf(`${HOLDER_X}=`), 'holder_ed25519') },
  {
    id: 'cnf-standard-alphabet',
    description: 'cnf x in the standard base64 alphabet ("/" for "_")',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-standard-alphabet', edCnf(HOLDER_X.replace(/_/g, '/').replace(/-/g, '+')), 'holder_ed25519'),
  },
  ...smallOrderEncodings().map(
    (e, i): NegativeCase => ({
      id: `cnf-small-order-${i + 1}`,
      description: `cnf x is an Ed25519 small-order encoding (${e.name}); the proof is the identity point's universal signature R = (0,1), S = 0`,
      reason: 'passport_cnf_invalid',
      build: () => withCnf(`cnf-small-order-${i + 1}`, edCnf(e.x), 'identity'),
    }),
  ),
  {
    id: 'cnf-non-canonical-point',
    description: 'cnf x encodes y + p (y >= p) for a y that is on the curve',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-non-canonical-point', edCnf(edNonCanonical()[0]!.x), 'identity'),
  },
  { id: 'cnf-not-a-point', description: 'cnf x is a y on no Ed25519 point', reason: 'passport_cnf_invalid', build: () => withCnf('cnf-not-a-point', edCnf(edNotOnCurve().x), 'identity') },
  {
    id: 'cnf-p256-off-curve',
    description: 'cnf is a P-256 pair (x, y + 1) off the curve',
    reason: 'passport_cnf_invalid',
    build: () => {
      const { x, y } = KEY_JWKS.holder_p256.jwk;
      // ECDSA signatures are randomised; the cnf is refused before any proof is checked, so a fixed one.
      return withCnf('cnf-p256-off-curve', { jwk: { kty: 'EC', crv: 'P-256', x, y: be32(fromBe(y!) + 1n) } }, 'identity');
    },
  },
  {
    id: 'cnf-p256-zero',
    description: 'cnf is the P-256 pair (0, 0), an attempt to spell the identity',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-p256-zero', { jwk: { kty: 'EC', crv: 'P-256', x: be32(0n), y: be32(0n) } }, 'identity'),
  },
  {
    id: 'cnf-private-member',
    description: 'cnf.jwk carries the private member "d"',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-private-member', { jwk: { ...edCnf(HOLDER_X).jwk, d: KEY_JWKS.holder_ed25519.jwk.d } }, 'holder_ed25519'),
  },
  {
    id: 'cnf-kid-member',
    description: 'cnf.jwk carries "kid": a cnf key is bare (kty, crv, x, y only)',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-kid-member', { jwk: { ...edCnf(HOLDER_X).jwk, kid: 'vec-holder-ed25519' } }, 'holder_ed25519'),
  },
  {
    id: 'cnf-extra-member',
    description: 'cnf carries "jkt" next to "jwk"',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-extra-member', { ...edCnf(HOLDER_X), jkt: jwkThumbprint(KEYS.holder_ed25519.publicJwk) }, 'holder_ed25519'),
  },
  {
    id: 'cnf-crv-case',
    description: 'cnf crv "ed25519": member values are exact',
    reason: 'passport_cnf_invalid',
    build: () => withCnf('cnf-crv-case', { jwk: { kty: 'OKP', crv: 'ed25519', x: HOLDER_X } }, 'holder_ed25519'),
  },
  {
    id: 'cnf-revoked',
    description: 'the cnf key is listed in revocations.cnf_thumbprints',
    reason: 'key_revoked',
    build: () => withCnf('cnf-revoked', edCnf(REVOKED_X), 'holder_revoked'),
  },
  ...trailingBitSpellings(REVOKED_X).map(
    (x, i): NegativeCase => ({
      id: `cnf-revoked-respelt-${i + 1}`,
      description: 'the revoked cnf key under another spelling of x: refused as a key before revocation could be asked',
      reason: 'passport_cnf_invalid',
      build: () => withCnf(`cnf-revoked-respelt-${i + 1}`, edCnf(x), 'holder_revoked'),
    }),
  ),
  {
    id: 'proof-empty-signature',
    description: 'the proof signature part is empty',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-empty-signature');
      return { signing: g, request: envoy(g, proof.slice(0, proof.lastIndexOf('.') + 1)) };
    },
  },
  {
    id: 'fd-length-not-whole-entries',
    description: 'fd decodes to 6 bytes (8 characters, a multiple of 4 characters but not of 4 bytes); the path was changed: no field is named',
    reason: 'transcript_mismatch',
    build: () => {
      const { g, proof } = signed('fd-length-not-whole-entries');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.fd = b64url(Buffer.alloc(6, 1)))), { path: '/files/b?x=1' }) };
    },
  },
  {
    id: 'fd-empty',
    description: 'fd is the empty string (zero entries); the path was changed: no field is named',
    reason: 'transcript_mismatch',
    build: () => {
      const { g, proof } = signed('fd-empty');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.fd = '')), { path: '/files/b?x=1' }) };
    },
  },
];

const MUTATE_CT = [['content-type', 'application/json']] as Headers;

const NEGATIVE: NegativeCase[] = [
  // ---- transcript fields changed on the way
  { id: 'tamper-method', description: 'signed GET, observed DELETE', reason: 'method_mismatch', build: () => tampered('tamper-method', { method: 'DELETE' }) },
  {
    id: 'tamper-authority',
    description: 'signed for api.example.com, observed at another host',
    reason: 'authority_mismatch',
    build: () => tampered('tamper-authority', { authority: 'evil.example.com' }),
  },
  {
    id: 'tamper-port',
    description: 'signed for the default port, observed on port 8443',
    reason: 'authority_mismatch',
    build: () => tampered('tamper-port', { authority: 'api.example.com:8443' }),
  },
  { id: 'tamper-path', description: 'signed /files/a, observed /files/b', reason: 'path_mismatch', build: () => tampered('tamper-path', { path: '/files/b?x=1' }) },
  {
    id: 'tamper-path-case',
    description: 'paths are case-sensitive: /files/A is another path',
    reason: 'path_mismatch',
    build: () => tampered('tamper-path-case', { path: '/files/A?x=1' }),
  },
  { id: 'tamper-query', description: 'signed x=1, observed x=2', reason: 'query_mismatch', build: () => tampered('tamper-query', { path: '/files/a?x=2' }) },
  {
    id: 'tamper-query-added',
    description: 'a parameter appended on the way',
    reason: 'query_mismatch',
    build: () => tampered('tamper-query-added', { path: '/files/a?x=1&admin=true' }),
  },
  {
    id: 'query-plus-vs-space',
    description: 'signed "a+b", observed "a%20b": "+" is not a space in transcript-v1',
    reason: 'query_mismatch',
    build: () => tampered('query-plus-vs-space', { path: '/files/a?q=a%20b' }, { path: '/files/a?q=a+b' }),
  },
  {
    id: 'tamper-header-value',
    description: 'the bound content-type changed',
    reason: 'header_mismatch',
    build: () =>
      tampered(
        'tamper-header-value',
        { headers: [['content-type', 'text/plain']] },
        { route: 'payments-create', method: 'POST', path: '/v1/payments', headers: MUTATE_CT, bind: ['content-type'], body: JSON_BODY },
      ),
  },
  {
    id: 'header-extra-copy',
    description: 'a second copy of a bound header added on the way is comma-joined by Envoy and no longer matches',
    reason: 'header_mismatch',
    build: () =>
      tampered(
        'header-extra-copy',
        {
          headers: [
            ['x-scope', 'read'],
            ['x-scope', 'admin'],
          ],
        },
        { headers: [['X-Scope', 'read']], bind: ['x-scope'] },
      ),
  },
  {
    id: 'bound-header-missing',
    description: 'the bound header was removed on the way',
    reason: 'bound_header_missing',
    build: () => tampered('bound-header-missing', { headers: [] }, { headers: [['X-Scope', 'read']], bind: ['x-scope'] }),
  },
  {
    id: 'tamper-body',
    description: 'the body changed',
    reason: 'body_mismatch',
    build: () =>
      tampered(
        'tamper-body',
        { body: { source: 'bytes', base64: Buffer.from('{"amount":"99999.00","currency":"EUR","to":"acct_evil"}\n').toString('base64') } },
        { route: 'payments-create', method: 'POST', path: '/v1/payments', headers: MUTATE_CT, bind: ['content-type'], body: JSON_BODY },
      ),
  },
  {
    id: 'body-added',
    description: 'signed with an empty body, observed with one',
    reason: 'body_mismatch',
    build: () => tampered('body-added', { body: { source: 'bytes', base64: Buffer.from('x').toString('base64') } }, { method: 'POST' }),
  },
  {
    id: 'tamper-nonce',
    description: 'the proof nonce was replaced, signature kept',
    reason: 'nonce_mismatch',
    build: () => {
      const { g, proof } = signed('tamper-nonce');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.nonce = nonceFor('another nonce')))) };
    },
  },
  {
    id: 'tamper-ts',
    description: 'the proof ts was moved one second, signature kept',
    reason: 'proof_time_mismatch',
    build: () => {
      const { g, proof } = signed('tamper-ts');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.ts = (p.ts as number) + 1))) };
    },
  },
  {
    id: 'tamper-route',
    description: 'the proof names another route than the one the request matches',
    reason: 'route_mismatch',
    build: () => {
      const { g, proof } = signed('tamper-route');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.route = 'docs'))) };
    },
  },
  {
    id: 'route-from-envoy-differs',
    description: 'Envoy names route "docs", which covers the request; the proof was made for "files"',
    reason: 'route_mismatch',
    build: () => tampered('route-from-envoy-differs', { route_id: 'docs' }, { path: '/docs/a?x=1' }),
  },
  // ---- the route Envoy names must cover the request (docs/transcript-v1.md §12 step 5)
  {
    id: 'route-from-envoy-method',
    description: 'Envoy names "docs" (GET only) for a DELETE signed for it',
    reason: 'route_request_mismatch',
    build: () => tampered('route-from-envoy-method', { route_id: 'docs' }, { route: 'docs', method: 'DELETE', path: '/docs/a' }),
  },
  {
    id: 'route-from-envoy-path',
    description: 'Envoy names "items-get" (/v1/items/*, one segment) for a deeper path signed for it',
    reason: 'route_request_mismatch',
    build: () => tampered('route-from-envoy-path', { route_id: 'items-get' }, { route: 'items-get', path: '/v1/items/42/parts/7' }),
  },
  {
    id: 'route-from-envoy-prefix',
    description: 'Envoy names "docs" (/docs/**) for a path outside it, signed for it',
    reason: 'route_request_mismatch',
    build: () => tampered('route-from-envoy-prefix', { route_id: 'docs' }, { route: 'docs', path: '/admin/users' }),
  },
  {
    id: 'route-from-envoy-authority',
    description: 'Envoy names "search" (authority api.example.com) for another authority, signed for it',
    reason: 'route_request_mismatch',
    build: () => tampered('route-from-envoy-authority', { route_id: 'search' }, { route: 'search', path: '/search?q=1', authority: 'other.example.com' }),
  },
  // ---- headers that change the method or URL upstream must be bound (docs/bundle.md §1.2.4)
  {
    id: 'override-method-unbound',
    description: 'X-HTTP-Method-Override: DELETE on a signed GET, not bound',
    reason: 'override_header_not_bound',
    build: () => tampered('override-method-unbound', { headers: [['x-http-method-override', 'DELETE']] }),
  },
  {
    id: 'override-url-unbound',
    description: 'X-Original-URL: /admin/users on a signed GET, not bound',
    reason: 'override_header_not_bound',
    build: () => tampered('override-url-unbound', { headers: [['x-original-url', '/admin/users']] }),
  },
  {
    id: 'override-rewrite-url-unbound',
    description: 'X-Rewrite-URL, not bound',
    reason: 'override_header_not_bound',
    build: () => tampered('override-rewrite-url-unbound', { headers: [['x-rewrite-url', '/admin/users']] }),
  },
  {
    id: 'override-forwarded-prefix-unbound',
    description: 'X-Forwarded-Prefix, not bound',
    reason: 'override_header_not_bound',
    build: () => tampered('override-forwarded-prefix-unbound', { headers: [['x-forwarded-prefix', '/admin']] }),
  },
  {
    id: 'override-empty-value-unbound',
    description: 'an override header with an empty value still counts',
    reason: 'override_header_not_bound',
    build: () => tampered('override-empty-value-unbound', { headers: [['x-http-method', '']] }),
  },
  {
    id: 'tamper-bound-names',
    description: 'a bound header name dropped from the proof, signature kept',
    reason: 'header_mismatch',
    build: () => {
      const { g, proof } = signed('tamper-bound-names', { headers: [['X-Scope', 'read']], bind: ['x-scope'] });
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.h = []))) };
    },
  },
  {
    id: 'jti-swap',
    description: 'the passport replaced by another one of the same holder (another jti)',
    reason: 'passport_binding_mismatch',
    build: () => tampered('jti-swap', { passport: passport({ jti: 'vec-jti-swap-other' }) }),
  },
  {
    id: 'other-passport',
    description: 'the passport replaced by one bound to another holder key',
    reason: 'passport_binding_mismatch',
    build: () => tampered('other-passport', { passport: passport({ jti: 'vec-other-passport-b', holder: 'holder_other' }) }),
  },
  {
    id: 'key-binding-line',
    description: 'the signer put another key-binding class in its transcript than the passport claims',
    reason: 'key_binding_mismatch',
    build: () => {
      const g = signing({ id: 'key-binding-line', route: 'files', method: 'GET', path: '/files/a' });
      const { proof } = createProof({ ...transcriptInput(g), keyBinding: 'hardware_local' }, KEYS.holder_ed25519);
      return { signing: g, request: envoy(g, proof) };
    },
  },
  {
    id: 'stolen-passport',
    description: 'someone without the holder key signs an exact transcript with their own key; every field digest matches',
    reason: 'transcript_mismatch',
    build: () => {
      const g = signing({ id: 'stolen-passport', route: 'files', method: 'GET', path: '/files/a' });
      const t = buildTranscript(transcriptInput(g));
      if (!t.ok) throw new Error('stolen-passport');
      const proof = encodeProof({ ts: g.ts, nonce: g.nonce, route: g.route, h: [], fd: fieldDigests(t.value) }, signBytes('EdDSA', KEYS.attacker.privateKey, t.value.bytes));
      return { signing: g, request: envoy(g, proof) };
    },
  },
  {
    id: 'tamper-path-no-digests',
    description: 'without the fd table a changed path can only be reported as transcript_mismatch',
    reason: 'transcript_mismatch',
    build: () => tampered('tamper-path-no-digests', { path: '/files/b?x=1' }, { fieldDigests: false }),
  },

  // ---- ambiguous requests
  { id: 'dot-segment', description: '".." segment', reason: 'path_not_canonical', build: () => tampered('dot-segment', { path: '/files/x/../a?x=1' }) },
  { id: 'single-dot-segment', description: '"." segment', reason: 'path_not_canonical', build: () => tampered('single-dot-segment', { path: '/files/./a?x=1' }) },
  {
    id: 'encoded-dot-segment',
    description: '"%2e%2E" is a ".." segment once decoded',
    reason: 'path_not_canonical',
    build: () => tampered('encoded-dot-segment', { path: '/files/x/%2e%2E/a?x=1' }),
  },
  { id: 'double-slash', description: 'an empty segment', reason: 'path_not_canonical', build: () => tampered('double-slash', { path: '/files//a?x=1' }) },
  // Forms an upstream could resolve to another path (docs/transcript-v1.md §6.4 step 4).
  { id: 'dot-dot-semicolon', description: '"..;" is ".." to a servlet container', reason: 'path_not_canonical', build: () => tampered('dot-dot-semicolon', { path: '/files/..;/..;/admin/users' }) },
  { id: 'dot-semicolon', description: '".;" is "." to a servlet container', reason: 'path_not_canonical', build: () => tampered('dot-semicolon', { path: '/files/.;/a?x=1' }) },
  { id: 'path-parameter', description: 'a ";" path parameter (jsessionid)', reason: 'path_not_canonical', build: () => tampered('path-parameter', { path: '/files/a;jsessionid=0123?x=1' }) },
  { id: 'encoded-dot-semicolon', description: '"%2e%2e;" is ".." to a servlet container', reason: 'path_not_canonical', build: () => tampered('encoded-dot-semicolon', { path: '/files/%2e%2e;/admin' }) },
  { id: 'encoded-semicolon', description: '"%3B" is a path parameter to some decoders', reason: 'path_not_canonical', build: () => tampered('encoded-semicolon', { path: '/files/..%3B/admin' }) },
  { id: 'overlong-dot', description: '"%c0%ae" is an overlong UTF-8 "."', reason: 'path_not_canonical', build: () => tampered('overlong-dot', { path: '/files/%c0%ae%c0%ae/admin' }) },
  { id: 'double-encoded-dot', description: '"%252e" is "." after a second decoding', reason: 'path_not_canonical', build: () => tampered('double-encoded-dot', { path: '/files/%252e%252e/admin' }) },
  { id: 'encoded-control', description: 'an encoded line feed in a segment', reason: 'path_not_canonical', build: () => tampered('encoded-control', { path: '/files/a%0a?x=1' }) },
  { id: 'fullwidth-dots', description: '"．．" (U+FF0E) is ".." after NFKC', reason: 'path_not_canonical', build: () => tampered('fullwidth-dots', { path: '/files/%EF%BC%8E%EF%BC%8E/admin' }) },
  { id: 'encoded-slash', description: '"%2F" inside a segment', reason: 'path_not_canonical', build: () => tampered('encoded-slash', { path: '/files/x%2Fa?x=1' }) },
  { id: 'encoded-backslash', description: '"%5c" inside a segment', reason: 'path_not_canonical', build: () => tampered('encoded-backslash', { path: '/files/x%5ca?x=1' }) },
  { id: 'backslash', description: 'a raw backslash', reason: 'path_not_canonical', build: () => tampered('backslash', { path: '/files\\a?x=1' }) },
  { id: 'bad-escape', description: 'a "%" not followed by two hex digits', reason: 'path_not_canonical', build: () => tampered('bad-escape', { path: '/files/%zz?x=1' }) },
  {
    id: 'bad-escape-query',
    description: 'a malformed escape in the query',
    reason: 'path_not_canonical',
    build: () => tampered('bad-escape-query', { path: '/files/a?x=%4' }),
  },
  {
    id: 'userinfo',
    description: 'userinfo in the authority',
    reason: 'authority_invalid',
    build: () => tampered('userinfo', { authority: 'user@api.example.com' }),
  },
  {
    id: 'authority-kelvin-sign',
    description: 'signed for kiosk.example.com, observed with U+212A KELVIN SIGN, whose Unicode lower case is "k": refused, never folded',
    reason: 'authority_invalid',
    build: () => tampered('authority-kelvin-sign', { authority: '\u212Aiosk.example.com' }, { authority: 'kiosk.example.com' }),
  },
  {
    id: 'unbindable-cookie',
    description: 'the proof binds "cookie" (re-joined differently by HTTP/1 and HTTP/2); signature irrelevant',
    reason: 'header_not_bindable',
    build: () => {
      const { g, proof } = signed('unbindable-cookie', { headers: [['Cookie', 'a=1']] });
      const request = envoy(g, tamperProof(proof, (p) => (p.h = ['cookie'])));
      return { signing: g, request };
    },
  },
  {
    id: 'unbindable-host',
    description: 'the proof binds "host", which never reaches ext_authz (Envoy folds it into :authority)',
    reason: 'header_not_bindable',
    build: () => {
      const { g, proof } = signed('unbindable-host');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.h = ['host']))) };
    },
  },
  {
    id: 'unbindable-pseudo',
    description: 'the proof binds the pseudo-header ":authority", which Envoy lists among the headers',
    reason: 'header_not_bindable',
    build: () => {
      const { g, proof } = signed('unbindable-pseudo');
      const request = envoy(g, tamperProof(proof, (p) => (p.h = [':authority'])), { headers: [[':authority', API]] });
      return { signing: g, request };
    },
  },

  // ---- credentials that do not parse
  { id: 'passport-missing', description: 'no passport header', reason: 'passport_missing', build: () => dropHeader('passport-missing', HEADER.passport) },
  { id: 'proof-missing', description: 'no proof header', reason: 'proof_missing', build: () => dropHeader('proof-missing', HEADER.proof) },
  {
    id: 'proof-duplicated',
    description: 'two proof headers: Envoy joins them with ","',
    reason: 'credential_duplicated',
    build: () => {
      const { g, proof } = signed('proof-duplicated');
      const r = envoy(g, proof);
      r.headers.push([HEADER.proof, proof]);
      return { signing: g, request: r };
    },
  },
  {
    id: 'proof-bad-version',
    description: 'a proof with another version prefix',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-bad-version');
      return { signing: g, request: envoy(g, `v2.${proof.slice(3)}`) };
    },
  },
  {
    id: 'proof-unknown-param',
    description: 'an unknown member in the proof parameters',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-unknown-param');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.scheme = 'https'))) };
    },
  },
  {
    id: 'proof-unsorted-names',
    description: 'bound header names not in byte order',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-unsorted-names', {
        headers: [
          ['X-B', '2'],
          ['X-A', '1'],
        ],
        bind: ['x-a', 'x-b'],
      });
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.h = ['x-b', 'x-a']))) };
    },
  },
  {
    id: 'passport-not-jws',
    description: 'the passport is not a compact JWS',
    reason: 'passport_malformed',
    build: () => tampered('passport-not-jws', { passport: 'not-a-token' }),
  },
  {
    id: 'alg-none',
    description: 'an unsigned passport (alg "none")',
    reason: 'passport_alg_not_allowed',
    build: () => withPassport('alg-none', `${jsonB64({ alg: 'none', typ: PASSPORT_TYP, kid: 'vec-issuer-1' })}.${jsonB64(claimsFor('vec-alg-none'))}.`),
  },
  {
    id: 'alg-hs256',
    description: 'HS256 keyed with the issuer public key bytes (algorithm confusion)',
    reason: 'passport_alg_not_allowed',
    build: () => {
      const input = `${jsonB64({ alg: 'HS256', typ: PASSPORT_TYP, kid: 'vec-issuer-1' })}.${jsonB64(claimsFor('vec-alg-hs256'))}`;
      const mac = createHmac('sha256', Buffer.from(KEY_JWKS.issuer.jwk.x, 'base64url')).update(input).digest();
      return withPassport('alg-hs256', `${input}.${b64url(mac)}`);
    },
  },
  {
    id: 'jwk-in-header',
    description: 'a passport that carries its own verification key in a "jwk" header',
    reason: 'passport_key_in_header',
    build: () =>
      withPassport(
        'jwk-in-header',
        signCompact(
          { alg: 'EdDSA', typ: PASSPORT_TYP, kid: 'vec-issuer-1', jwk: publicOf('attacker') },
          claimsFor('vec-jwk-in-header'),
          'EdDSA',
          KEYS.attacker.privateKey,
        ),
      ),
  },
  {
    id: 'typ-jwt',
    description: 'a passport typed "JWT" instead of "tp-passport+jwt"',
    reason: 'passport_typ_invalid',
    build: () =>
      withPassport('typ-jwt', signCompact({ alg: 'EdDSA', typ: 'JWT', kid: 'vec-issuer-1' }, claimsFor('vec-typ-jwt'), 'EdDSA', KEYS.issuer.privateKey)),
  },
  {
    id: 'unknown-kid',
    description: 'a passport signed by a key the bundle does not list',
    reason: 'passport_kid_unknown',
    build: () =>
      withPassport(
        'unknown-kid',
        signCompact({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: 'vec-attacker' }, claimsFor('vec-unknown-kid'), 'EdDSA', KEYS.attacker.privateKey),
      ),
  },
  {
    id: 'forged-passport',
    description: 'a passport naming the trusted kid but signed by another key',
    reason: 'passport_signature_invalid',
    build: () =>
      withPassport(
        'forged-passport',
        signCompact({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: 'vec-issuer-1' }, claimsFor('vec-forged'), 'EdDSA', KEYS.attacker.privateKey),
      ),
  },
  {
    id: 'passport-claims-edited',
    description: 'the passport claims edited after issuing (another audience), issuer signature kept',
    reason: 'passport_signature_invalid',
    build: () => {
      const [h, , s] = passport({ jti: 'vec-passport-claims-edited' }).split('.');
      return withPassport('passport-claims-edited', `${h}.${jsonB64({ ...claimsFor('vec-passport-claims-edited'), aud: 'https://other.example' })}.${s}`);
    },
  },

  // ---- claims, trust and policy
  {
    id: 'passport-expired',
    description: 'exp is 60 s in the past, beyond the 30 s clock tolerance',
    reason: 'passport_expired',
    build: () => withPassport('passport-expired', passport({ jti: 'vec-passport-expired', iat: NOW - 120 })),
  },
  {
    id: 'passport-future',
    description: 'iat is 120 s in the future',
    reason: 'passport_not_yet_valid',
    build: () => withPassport('passport-future', passport({ jti: 'vec-passport-future', iat: NOW + 120 })),
  },
  {
    id: 'passport-too-long',
    description: 'a 600 s passport on a route with the default 300 s lifetime limit',
    reason: 'passport_lifetime_exceeded',
    build: () => withPassport('passport-too-long', passport({ jti: 'vec-passport-too-long', lifetimeS: 600 })),
  },
  {
    id: 'issuer-other',
    description: 'the trusted key signed a passport naming another issuer',
    reason: 'issuer_untrusted',
    build: () => withPassport('issuer-other', passport({ jti: 'vec-issuer-other', iss: 'https://other-issuer.example.com' })),
  },
  {
    id: 'trust-domain-other',
    description: 'the passport names another trust domain than its key',
    reason: 'trust_domain_mismatch',
    build: () => withPassport('trust-domain-other', passport({ jti: 'vec-trust-domain-other', td: 'other.org' })),
  },
  {
    id: 'software-key-claims-attested',
    description: 'a software-class issuer key mints an attested_workload passport',
    reason: 'key_binding_exceeds_issuer',
    build: () =>
      withPassport('software-key-claims-attested', passport({ jti: 'vec-software-key-claims-attested', key: 'issuer_software', keyBinding: 'attested_workload' })),
  },
  {
    id: 'jti-revoked',
    description: 'the bundle revokes this jti',
    reason: 'passport_revoked',
    build: () => withPassport('jti-revoked', passport({ jti: 'vec-revoked-jti' })),
  },
  {
    id: 'wrong-audience',
    description: 'a passport for api.example.com presented on a route whose audience is reports.example.com',
    reason: 'audience_mismatch',
    build: () => tampered('wrong-audience', {}, { route: 'reports', path: '/reports/q1' }),
  },
  {
    id: 'subject-not-allowed',
    description: 'the subject does not match the route source pattern',
    reason: 'source_not_allowed',
    build: () => withPassport('subject-not-allowed', passport({ jti: 'vec-subject-not-allowed', sub: 'spiffe://example.org/batch/job' })),
  },
  {
    id: 'key-binding-too-weak',
    description: 'a software passport on a route that requires hardware_local',
    reason: 'key_binding_insufficient',
    build: () => tampered('key-binding-too-weak', {}, { route: 'admin', path: '/admin/users' }),
  },
  {
    id: 'route-not-found',
    description: 'no bundle route matches the path',
    reason: 'route_not_found',
    build: () => tampered('route-not-found', {}, { route: 'files', path: '/nowhere' }),
  },
  {
    id: 'route-method-not-allowed',
    description: 'the search route matches GET only',
    reason: 'route_not_found',
    build: () => tampered('route-method-not-allowed', {}, { route: 'search', method: 'POST', path: '/search?q=1' }),
  },
  {
    id: 'required-header-not-bound',
    description: 'payments-create requires content-type to be bound',
    reason: 'header_not_bound',
    build: () => tampered('required-header-not-bound', {}, { route: 'payments-create', method: 'POST', path: '/v1/payments', headers: MUTATE_CT, body: JSON_BODY }),
  },

  // ---- body observation
  {
    id: 'body-partial',
    description: 'Envoy buffered only part of the body (x-envoy-auth-partial-body: true)',
    reason: 'body_partial',
    build: () =>
      tampered(
        'body-partial',
        { body: { source: 'bytes', base64: LARGE_BODY.subarray(0, 8192).toString('base64'), partial: true } },
        { method: 'PUT', body: LARGE_BODY },
      ),
  },
  {
    id: 'body-unavailable',
    description: 'Envoy neither buffers bodies nor runs the trusted filter',
    reason: 'body_unavailable',
    build: () => tampered('body-unavailable', { body: { source: 'unavailable' } }, { method: 'POST', body: JSON_BODY }),
  },
  {
    id: 'body-too-large',
    description: 'payments-create accepts bodies up to body.max_bytes = 1024 bytes; this one has 1025',
    reason: 'body_too_large',
    build: () =>
      tampered('body-too-large', {}, {
        route: 'payments-create',
        method: 'POST',
        path: '/v1/payments',
        headers: MUTATE_CT,
        bind: ['content-type'],
        body: Buffer.alloc(1025, 0x61),
      }),
  },
  {
    id: 'body-on-empty-route',
    description: 'the signer hashed a body on a route with body mode "empty"; the verifier binds the empty hash',
    reason: 'body_mismatch',
    build: () =>
      tampered('body-on-empty-route', { body: { source: 'unavailable' } }, { route: 'search', path: '/search?q=1', body: Buffer.from('hidden') }),
  },
  {
    id: 'body-hash-header-invalid',
    description: 'the trusted body-hash header is not a SHA-256 digest (a client copy joined with the filter copy)',
    reason: 'body_hash_invalid',
    build: () =>
      tampered(
        'body-hash-header-invalid',
        {
          headers: [
            [HEADER.bodySha256, sha256b64url('x')],
            [HEADER.bodySha256, sha256b64url(JSON_BODY)],
            [HEADER.bodyLength, String(JSON_BODY.length)],
          ],
          body: { source: 'filter_header' },
        },
        { method: 'POST', body: JSON_BODY },
      ),
  },

  // ---- identities: one exact spelling (docs/transcript-v1.md §4.2)
  ...hostileClaims(),
  {
    id: 'sub-revoked',
    description: 'the bundle revokes this subject (revocations.subjects)',
    reason: 'passport_revoked',
    build: () => withPassport('sub-revoked', passport({ jti: 'vec-sub-revoked', sub: REVOKED_SUB })),
  },
  {
    id: 'peer-principal-mismatch',
    description: 'the route requires the mTLS peer principal (peer_principal) to equal sub; the peer is another workload',
    reason: 'peer_principal_mismatch',
    build: () => tampered('peer-principal-mismatch', { peer_principal: 'spiffe://example.org/ns/other/sa/client' }, { route: 'peer', path: '/peer/a' }),
  },
  {
    id: 'peer-principal-absent',
    description: 'the route requires a peer principal and the connection was plaintext (no peer_principal)',
    reason: 'peer_principal_mismatch',
    build: () => tampered('peer-principal-absent', {}, { route: 'peer', path: '/peer/a' }),
  },
  {
    id: 'request-no-authority',
    description: 'Envoy presented no :authority',
    reason: 'request_malformed',
    build: () => tampered('request-no-authority', { authority: '' }),
  },
  {
    id: 'request-no-method',
    description: 'Envoy presented no :method',
    reason: 'request_malformed',
    build: () => tampered('request-no-method', { method: '' }),
  },

  // ---- JSON profile (docs/transcript-v1.md §2) and parse order (§5, §12)
  {
    id: 'claims-iat-fraction',
    description: 'iat written 1767225590.0: a number with a fraction is not an integer here',
    reason: 'passport_malformed',
    build: () => withPassport('claims-iat-fraction', rawPassport(ISSUER_HEADER, claimsText('vec-claims-iat-fraction').replace(`"iat":${NOW - 10}`, `"iat":${NOW - 10}.0`))),
  },
  {
    id: 'claims-exp-exponent',
    description: 'exp written with an exponent (1.76722565e9)',
    reason: 'passport_malformed',
    build: () => withPassport('claims-exp-exponent', rawPassport(ISSUER_HEADER, claimsText('vec-claims-exp-exponent').replace(`"exp":${NOW + 50}`, `"exp":${(NOW + 50) / 1e9}e9`))),
  },
  {
    id: 'claims-nbf-negative-zero',
    description: 'nbf written -0',
    reason: 'passport_malformed',
    build: () => withPassport('claims-nbf-negative-zero', rawPassport(ISSUER_HEADER, claimsText('vec-claims-nbf-negative-zero').replace('{', '{"nbf":-0,'))),
  },
  {
    id: 'claims-huge-integer',
    description: 'an integer above 2^53-1 (9007199254740993)',
    reason: 'passport_malformed',
    build: () => withPassport('claims-huge-integer', rawPassport(ISSUER_HEADER, claimsText('vec-claims-huge-integer').replace('{', '{"nbf":9007199254740993,'))),
  },
  {
    id: 'claims-duplicate-sub',
    description: 'two "sub" members; parsers disagree on which one counts, so neither does',
    reason: 'passport_malformed',
    build: () =>
      withPassport('claims-duplicate-sub', rawPassport(ISSUER_HEADER, claimsText('vec-claims-duplicate-sub').replace('{', `{"sub":${JSON.stringify(REVOKED_SUB)},`))),
  },
  {
    id: 'claims-duplicate-nested',
    description: 'a duplicate member inside cnf.jwk',
    reason: 'passport_malformed',
    build: () =>
      withPassport('claims-duplicate-nested', rawPassport(ISSUER_HEADER, claimsText('vec-claims-duplicate-nested').replace('"kty":"OKP"', '"kty":"OKP","kty":"OKP"'))),
  },
  {
    id: 'claims-invalid-utf8',
    description: 'the claims are not valid UTF-8 (a lone 0xFF byte inside an unknown claim)',
    reason: 'passport_malformed',
    build: () => {
      const text = Buffer.from(claimsText('vec-claims-invalid-utf8').replace('{', '{"note":"X",'), 'utf8');
      text[text.indexOf('"X"') + 1] = 0xff;
      return withPassport('claims-invalid-utf8', rawPassportBytes(Buffer.from(ISSUER_HEADER), text));
    },
  },
  {
    id: 'header-unknown-member',
    description: 'a passport header member the profile does not define ("cty")',
    reason: 'passport_malformed',
    build: () => withPassport('header-unknown-member', rawPassport(ISSUER_HEADER.replace('}', ',"cty":"JWT"}'), claimsText('vec-header-unknown-member'))),
  },
  {
    id: 'header-duplicate-kid',
    description: 'two "kid" members in the passport header',
    reason: 'passport_malformed',
    build: () => withPassport('header-duplicate-kid', rawPassport(ISSUER_HEADER.replace('{', '{"kid":"vec-issuer-software",'), claimsText('vec-header-duplicate-kid'))),
  },
  {
    id: 'header-kid-control',
    description: 'a kid with a line feed',
    reason: 'passport_malformed',
    build: () => withPassport('header-kid-control', rawPassport(ISSUER_HEADER.replace('"vec-issuer-1"', '"vec-issuer-1\\n"'), claimsText('vec-header-kid-control'))),
  },
  {
    id: 'passport-empty-signature',
    description: 'an EdDSA passport whose signature part is empty',
    reason: 'passport_malformed',
    build: () => withPassport('passport-empty-signature', `${rawPassport(ISSUER_HEADER, claimsText('vec-passport-empty-signature')).split('.').slice(0, 2).join('.')}.`),
  },
  {
    id: 'passport-nbsp-around',
    description: 'the passport value wrapped in U+00A0: only spaces and tabs around a credential are ignored',
    reason: 'passport_malformed',
    build: () => {
      const { g, proof } = signed('passport-nbsp-around');
      return { signing: g, request: envoy(g, proof, { passport: `\u00a0${g.passport}\u00a0` }) };
    },
  },
  {
    id: 'passport-tab-around',
    description: 'spaces and tabs around the passport are ignored: the first presentation is allowed, so the second is a replay',
    reason: 'jti_replay',
    build: () => {
      const { g, proof } = signed('passport-tab-around');
      return { signing: g, request: envoy(g, proof, { passport: `\t ${g.passport} \t` }), presentations_before: 1 };
    },
  },
  {
    id: 'proof-ts-fraction',
    description: 'the proof ts written with a fraction (1767225595.0)',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-ts-fraction');
      return { signing: g, request: envoy(g, rawProofParams(proof, (t) => t.replace(`"ts":${g.ts}`, `"ts":${g.ts}.0`))) };
    },
  },
  {
    id: 'proof-duplicate-route',
    description: 'two "route" members in the proof parameters',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-duplicate-route');
      return { signing: g, request: envoy(g, rawProofParams(proof, (t) => t.replace('{', '{"route":"admin",'))) };
    },
  },
  {
    id: 'proof-names-unsorted-and-unbindable',
    description: 'h is both unsorted and names an unbindable header: every proof_malformed check comes first',
    reason: 'proof_malformed',
    build: () => {
      const { g, proof } = signed('proof-names-unsorted-and-unbindable');
      return { signing: g, request: envoy(g, tamperProof(proof, (p) => (p.h = ['x-trustplane-a', 'accept']))) };
    },
  },

  // ---- time and replay
  {
    id: 'proof-too-old',
    description: 'a realtime route accepts proofs up to 30 s old; this one is 31 s old',
    reason: 'proof_expired',
    build: () => tampered('proof-too-old', {}, { route: 'search', path: '/search?q=1', ts: NOW - 31 }),
  },
  {
    id: 'proof-from-future',
    description: 'the proof ts is 31 s ahead, beyond the 30 s tolerance',
    reason: 'proof_not_yet_valid',
    build: () => tampered('proof-from-future', {}, { ts: NOW + 31 }),
  },
  {
    id: 'replay',
    description: 'the same signed request presented a second time',
    reason: 'jti_replay',
    build: () => ({ ...tampered('replay', {}), presentations_before: 1 }),
  },
  // ---- reusable passports (docs/transcript-v1.md §15)
  {
    id: 'reusable-proof-replay',
    description: 'a reusable passport with the same proof presented a second time: the proof nonce is consumed once',
    reason: 'proof_replay',
    build: () => ({ ...tampered('reusable-proof-replay', {}, { route: 'sessions', method: 'GET', path: '/sessions/s-2', passport: reusablePassport() }), presentations_before: 1 }),
  },
  {
    id: 'reusable-route-not-allowed',
    description: 'a reusable passport on a route without reusable_passport',
    reason: 'passport_reuse_not_allowed',
    build: () => tampered('reusable-route-not-allowed', {}, { route: 'items-get', method: 'GET', path: '/v1/items/7', passport: reusablePassport() }),
  },
  {
    id: 'reusable-lifetime-exceeded',
    description: 'a reusable passport living 901 s on a route whose reusable_passport.max_lifetime_s is 900',
    reason: 'passport_lifetime_exceeded',
    build: () =>
      tampered('reusable-lifetime-exceeded', {}, { route: 'sessions', method: 'GET', path: '/sessions/s-3', passport: passport({ jti: 'vec-reusable-901', reusable: true, lifetimeS: 901 }) }),
  },
  {
    id: 'per-request-lifetime-on-reusable-route',
    description: 'a per-request passport living 900 s on the same route: its limit is max_passport_lifetime_s (default 300 s), not reusable_passport',
    reason: 'passport_lifetime_exceeded',
    build: () => tampered('per-request-lifetime-on-reusable-route', {}, { route: 'sessions', method: 'GET', path: '/sessions/s-4', passport: passport({ jti: 'vec-per-request-900', lifetimeS: 900 }) }),
  },
  {
    id: 'reusable-claim-not-true',
    description: 'a passport whose reusable claim is false: the claim is present only as true',
    reason: 'passport_claims_invalid',
    build: () => withPassport('reusable-claim-not-true', rawPassport(ISSUER_HEADER, claimsText('vec-reusable-false', { reusable: false }))),
  },
  // ---- bodies (docs/transcript-v1.md §10) and the verifier's surroundings (§14 `environment`)
  {
    id: 'empty-route-body-buffered',
    description: 'a route that takes no body: Envoy buffered a body the proof signed; any body is a mismatch there',
    reason: 'body_mismatch',
    build: () =>
      tampered(
        'empty-route-body-buffered',
        { body: { source: 'bytes', base64: Buffer.from('hidden').toString('base64') } },
        { route: 'search', path: '/search?q=2', body: Buffer.from('hidden') },
      ),
  },
  {
    id: 'empty-route-content-length',
    description: 'a route that takes no body: nothing observed the body, but the request declares content-length: 6',
    reason: 'body_mismatch',
    build: () =>
      tampered(
        'empty-route-content-length',
        { headers: [['content-length', '6']], body: { source: 'unavailable' } },
        { route: 'search', path: '/search?q=3', body: Buffer.from('hidden') },
      ),
  },
  {
    id: 'empty-route-transfer-encoding',
    description: 'a route that takes no body: nothing observed the body, but the request carries transfer-encoding',
    reason: 'body_mismatch',
    build: () =>
      tampered(
        'empty-route-transfer-encoding',
        { headers: [['transfer-encoding', 'chunked']], body: { source: 'unavailable' } },
        { route: 'search', path: '/search?q=4' },
      ),
  },
  {
    id: 'empty-route-filter-length',
    description: 'a route that takes no body: the trusted filter hashed 6 body bytes, which the proof signed',
    reason: 'body_mismatch',
    build: () =>
      tampered(
        'empty-route-filter-length',
        {
          headers: [
            [HEADER.bodySha256, sha256b64url('hidden')],
            [HEADER.bodyLength, '6'],
          ],
          body: { source: 'filter_header' },
        },
        { route: 'search', path: '/search?q=5', body: Buffer.from('hidden') },
      ),
  },
  {
    id: 'empty-route-partial-true',
    description: 'a route that takes no body: Envoy marked its (empty) buffer partial, so a body followed',
    reason: 'body_mismatch',
    build: () =>
      tampered(
        'empty-route-partial-true',
        { headers: [['x-envoy-auth-partial-body', 'true']], body: { source: 'bytes', base64: '' } },
        { route: 'search', path: '/search?q=6' },
      ),
  },
  {
    id: 'partial-header-not-false',
    description: 'x-envoy-auth-partial-body is "False": only the exact value "false" marks a buffered body complete',
    reason: 'body_partial',
    build: () =>
      tampered(
        'partial-header-not-false',
        { headers: [['content-type', 'application/json'], ['x-envoy-auth-partial-body', 'False']], body: { source: 'bytes', base64: JSON_BODY.toString('base64') } },
        { route: 'payments-create', method: 'POST', path: '/v1/payments', headers: MUTATE_CT, bind: ['content-type'], body: JSON_BODY },
      ),
  },
  {
    id: 'filter-length-over-max',
    description: 'the trusted filter reports 1025 body bytes on a route whose body.max_bytes is 1024',
    reason: 'body_too_large',
    build: () =>
      tampered(
        'filter-length-over-max',
        {
          headers: [
            ['content-type', 'application/json'],
            [HEADER.bodySha256, sha256b64url(Buffer.alloc(1025, 0x61))],
            [HEADER.bodyLength, '1025'],
          ],
          body: { source: 'filter_header' },
        },
        { route: 'payments-create', method: 'POST', path: '/v1/payments', headers: MUTATE_CT, bind: ['content-type'], body: Buffer.alloc(1025, 0x61) },
      ),
  },
  {
    id: 'filter-length-missing',
    description: 'the trusted filter hash arrives without the body-length header the filter writes with it',
    reason: 'body_hash_invalid',
    build: () =>
      tampered('filter-length-missing', { headers: [[HEADER.bodySha256, sha256b64url(JSON_BODY)]], body: { source: 'filter_header' } }, { method: 'POST', body: JSON_BODY }),
  },
  {
    id: 'filter-length-leading-zero',
    description: 'the body-length header is "053": decimal without a leading zero only',
    reason: 'body_hash_invalid',
    build: () =>
      tampered(
        'filter-length-leading-zero',
        { headers: [[HEADER.bodySha256, sha256b64url(JSON_BODY)], [HEADER.bodyLength, '053']], body: { source: 'filter_header' } },
        { method: 'POST', body: JSON_BODY },
      ),
  },
  {
    id: 'filter-length-joined',
    description: 'a client copy of the body-length header joined with the filter copy ("0,53")',
    reason: 'body_hash_invalid',
    build: () =>
      tampered(
        'filter-length-joined',
        { headers: [[HEADER.bodySha256, sha256b64url(JSON_BODY)], [HEADER.bodyLength, '0'], [HEADER.bodyLength, '53']], body: { source: 'filter_header' } },
        { method: 'POST', body: JSON_BODY },
      ),
  },
  {
    id: 'filter-length-disagrees',
    description: 'the body-length header says 0 but the hash is not the empty-body hash: not one pass of the filter',
    reason: 'body_hash_invalid',
    build: () =>
      tampered(
        'filter-length-disagrees',
        { headers: [[HEADER.bodySha256, sha256b64url(JSON_BODY)], [HEADER.bodyLength, '0']], body: { source: 'filter_header' } },
        { method: 'POST', body: JSON_BODY },
      ),
  },
  {
    id: 'filter-header-route-untrusted',
    description: 'a filter hash on a route whose body.hash_source is not "filter" (items-get): ignored, and nothing else observed the body',
    reason: 'body_unavailable',
    build: () =>
      tampered(
        'filter-header-route-untrusted',
        { headers: [[HEADER.bodySha256, sha256b64url('x')], [HEADER.bodyLength, '1']], body: { source: 'filter_header' } },
        { route: 'items-get', path: '/v1/items/7', body: Buffer.from('x') },
      ),
  },
  {
    id: 'bundle-stale',
    description: 'environment: the bundle in use was issued 3601 s ago; a realtime route accepts at most 3600 s',
    reason: 'bundle_stale',
    build: () => ({ ...tampered('bundle-stale', {}, { route: 'search', path: '/search?q=stale' }), environment: { bundle_age_s: 3601 } }),
  },
  {
    id: 'bundle-unavailable',
    description: 'environment: no verified bundle is loaded',
    reason: 'bundle_unavailable',
    build: () => ({ ...tampered('bundle-unavailable', {}), environment: { bundle: 'absent' } }),
  },
  {
    id: 'replay-store-unavailable',
    description: 'environment: the replay store cannot answer; fail closed',
    reason: 'replay_store_unavailable',
    build: () => ({ ...tampered('replay-store-unavailable', {}), environment: { replay_store: 'unavailable' } }),
  },
  {
    id: 'internal-error',
    description: 'environment: the verifier raises an unexpected exception while deciding; fail closed',
    reason: 'internal_error',
    build: () => ({ ...tampered('internal-error', {}), environment: { fault: 'exception' } }),
  },
];

// ---------------------------------------------------------------------------------------------
// Key vectors (docs/transcript-v1.md §4.1): each JWK is accepted or refused by the one import path,
// as a passport cnf ("cnf": bare members only) or as a bundle, broker or key-file public key ("public").

interface JwkCase {
  id: string;
  description: string;
  context: 'cnf' | 'public';
  jwk: Record<string, unknown>;
  valid: boolean;
}

const ED_PUBLIC = { kty: 'OKP', crv: 'Ed25519', x: HOLDER_X };
const P256_PUBLIC = { kty: 'EC', crv: 'P-256', x: KEY_JWKS.holder_p256.jwk.x, y: KEY_JWKS.holder_p256.jwk.y! };

const JWK_CASES: JwkCase[] = [
  { id: 'ed25519', description: 'a canonical Ed25519 key', context: 'cnf', jwk: ED_PUBLIC, valid: true },
  { id: 'p256', description: 'a canonical P-256 key', context: 'cnf', jwk: P256_PUBLIC, valid: true },
  {
    id: 'p256-public-members',
    description: 'a public key with the optional members and their only allowed values',
    context: 'public',
    jwk: { ...P256_PUBLIC, kid: 'k-1', alg: 'ES256', use: 'sig', key_ops: ['verify'] },
    valid: true,
  },
  ...trailingBitSpellings(HOLDER_X).map((x, i): JwkCase => ({ id: `trailing-bits-${i + 1}`, description: 'non-zero unused bits in the last character of x', context: 'public', jwk: { ...ED_PUBLIC, x }, valid: false })),
  ...trailingBitSpellings(P256_PUBLIC.y).map((y, i): JwkCase => ({ id: `p256-y-trailing-bits-${i + 1}`, description: 'non-zero unused bits in the last character of y', context: 'public', jwk: { ...P256_PUBLIC, y }, valid: false })),
  ...otherSpellings(HOLDER_X).map((x, i): JwkCase => ({ id: `spelling-${i + 1}`, description: `x as ${JSON.stringify(x)}: padding, whitespace, a character outside the alphabet or the standard alphabet`, context: 'public', jwk: { ...ED_PUBLIC, x }, valid: false })),
  ...smallOrderEncodings().map((e, i): JwkCase => ({ id: `small-order-${i + 1}`, description: `Ed25519 small-order encoding: ${e.name}`, context: 'public', jwk: { kty: 'OKP', crv: 'Ed25519', x: e.x }, valid: false })),
  ...edNonCanonical().slice(0, 2).map((e, i): JwkCase => ({ id: `non-canonical-${i + 1}`, description: `Ed25519 encoding with y >= p (${e.name})`, context: 'public', jwk: { kty: 'OKP', crv: 'Ed25519', x: e.x }, valid: false })),
  { id: 'not-a-point', description: 'an Ed25519 y on no point', context: 'public', jwk: { kty: 'OKP', crv: 'Ed25519', x: edNotOnCurve().x }, valid: false },
  { id: 'p256-off-curve', description: 'a P-256 pair off the curve', context: 'public', jwk: { ...P256_PUBLIC, y: be32(fromBe(P256_PUBLIC.y) ^ 1n) }, valid: false },
  { id: 'p256-zero', description: 'the P-256 pair (0, 0)', context: 'public', jwk: { ...P256_PUBLIC, x: be32(0n), y: be32(0n) }, valid: false },
  { id: 'p256-x-at-p', description: 'a P-256 x equal to the field prime', context: 'public', jwk: { ...P256_PUBLIC, x: be32(P256_P) }, valid: false },
  { id: 'private-d', description: 'a public key carrying "d"', context: 'public', jwk: { ...ED_PUBLIC, d: KEY_JWKS.holder_ed25519.jwk.d }, valid: false },
  { id: 'private-k', description: 'a public key carrying the symmetric member "k"', context: 'public', jwk: { ...ED_PUBLIC, k: 'c2VjcmV0' }, valid: false },
  { id: 'unknown-member', description: 'an unregistered member ("ext")', context: 'public', jwk: { ...ED_PUBLIC, ext: true }, valid: false },
  { id: 'alg-other', description: '"alg" naming the other algorithm', context: 'public', jwk: { ...ED_PUBLIC, alg: 'ES256' }, valid: false },
  { id: 'key-ops-sign', description: '"key_ops" allowing "sign" on a public key', context: 'public', jwk: { ...ED_PUBLIC, key_ops: ['sign'] }, valid: false },
  { id: 'cnf-kid', description: '"kid" in a cnf key (a cnf key is bare)', context: 'cnf', jwk: { ...ED_PUBLIC, kid: 'k' }, valid: false },
  { id: 'ed25519-with-y', description: 'an Ed25519 key with "y"', context: 'public', jwk: { ...ED_PUBLIC, y: P256_PUBLIC.y }, valid: false },
  { id: 'kty-case', description: '"kty" in lower case', context: 'public', jwk: { ...ED_PUBLIC, kty: 'okp' }, valid: false },
  { id: 'crv-other', description: 'crv "Ed448"', context: 'public', jwk: { ...ED_PUBLIC, crv: 'Ed448' }, valid: false },
];

function jwkVector(c: JwkCase): Record<string, unknown> {
  let jkt: string | undefined;
  try {
    jkt = checkPublicJwk(c.jwk, c.context === 'cnf' ? 'bare' : 'public').jkt;
  } catch (e) {
    if (!(e instanceof JwkError)) throw e;
  }
  if ((jkt !== undefined) !== c.valid) throw new Error(`jwk vector ${c.id}: expected ${c.valid ? 'accepted' : 'refused'}`);
  return { id: c.id, description: c.description, context: c.context, jwk: c.jwk, valid: c.valid, ...(jkt !== undefined ? { jkt } : {}) };
}

// Hand-written passports: exact JSON text, signed by the trusted issuer key

const ISSUER_HEADER = JSON.stringify({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: 'vec-issuer-1' });

function claimsText(jti: string, over: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...claimsFor(jti), ...over });
}

function rawPassportBytes(header: Buffer, payload: Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${b64url(signBytes('EdDSA', KEYS.issuer.privateKey, Buffer.from(input, 'ascii')))}`;
}

function rawPassport(header: string, payload: string): string {
  return rawPassportBytes(Buffer.from(header, 'utf8'), Buffer.from(payload, 'utf8'));
}

/** Rewrite the proof parameters' JSON text, keeping the signature. */
function rawProofParams(proof: string, change: (text: string) => string): string {
  const [, params, sig] = proof.split('.');
  return `v1.${b64url(Buffer.from(change(fromB64url(params!)!.toString('utf8')), 'utf8'))}.${sig}`;
}

/**
 * Identities the issuer signed but the profile refuses (passport_claims_invalid): every class of
 * docs/transcript-v1.md §4.2 — control characters, whitespace, dot segments, percent-encoding,
 * upper case, SPIFFE syntax, default ports, userinfo, query and fragment.
 */
function hostileClaims(): NegativeCase[] {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['sub-line-feed', 'sub ends in a line feed (log and metadata injection)', { sub: `${SUB}\n` }],
    ['sub-carriage-return-inside', 'sub with a CR LF inside', { sub: 'spiffe://example.org/ns/a\r\nx/sa/client' }],
    ['sub-nel', 'sub with U+0085 (a C1 line break)', { sub: `${SUB}\u0085` }],
    ['sub-line-separator', 'sub with U+2028', { sub: `${SUB}\u2028` }],
    ['sub-space', 'sub with a space', { sub: 'spiffe://example.org/ns/a b/sa/client' }],
    ['sub-dot-dot-segment', 'a ".." segment that a "*" pattern would otherwise match', { sub: 'spiffe://example.org/ns/../sa/client' }],
    ['sub-dot-segment', 'a "." segment', { sub: 'spiffe://example.org/ns/./sa/client' }],
    ['sub-empty-segment', 'an empty SPIFFE path segment', { sub: 'spiffe://example.org/ns//sa/client' }],
    ['sub-trailing-slash', 'a SPIFFE ID ending in "/"', { sub: `${SUB}/` }],
    ['sub-percent-encoded', 'the revoked subject re-spelled with %72 for "r"', { sub: REVOKED_SUB.replace('revoked', '%72evoked') }],
    ['sub-percent-encoded-dot', 'a SPIFFE segment "%2E%2E"', { sub: 'spiffe://example.org/ns/%2E%2E/sa/client' }],
    ['sub-spiffe-upper-scheme', 'SPIFFE IDs use the scheme "spiffe" in lower case', { sub: 'SPIFFE://example.org/ns/a/sa/client' }],
    ['sub-spiffe-upper-trust-domain', 'a SPIFFE trust domain in upper case', { sub: 'spiffe://Example.org/ns/a/sa/client' }],
    ['sub-spiffe-port', 'a SPIFFE ID with a port', { sub: 'spiffe://example.org:8443/ns/a/sa/client' }],
    ['sub-spiffe-userinfo', 'a SPIFFE ID with userinfo', { sub: 'spiffe://admin@example.org/ns/a/sa/client' }],
    ['sub-spiffe-query', 'a SPIFFE ID with a query', { sub: `${SUB}?x=1` }],
    ['sub-spiffe-fragment', 'a SPIFFE ID with a fragment', { sub: `${SUB}#x` }],
    ['sub-not-uri', 'sub without a scheme', { sub: 'client' }],
    ['sub-https-upper-host', 'an https subject with an upper-case host', { sub: 'https://Workloads.example.org/client' }],
    ['sub-https-default-port', 'an https subject with the default port written', { sub: 'https://workloads.example.org:443/client' }],
    ['sub-https-lower-hex', 'an https subject with a lower-case percent-escape', { sub: 'https://workloads.example.org/caf%c3%a9' }],
    ['iss-not-uri', 'iss without a scheme', { iss: 'issuer.example.com' }],
    ['iss-line-feed', 'iss with a line feed', { iss: `${ISS}\n` }],
    ['iss-fragment', 'iss with a fragment', { iss: `${ISS}#x` }],
    ['trust-domain-upper', 'trust_domain in upper case', { trust_domain: 'Example.org' }],
    ['trust-domain-port', 'trust_domain with a port', { trust_domain: 'example.org:443' }],
    ['aud-space', 'aud with a space', { aud: `${AUD} ` }],
    ['aud-array', 'aud as an array', { aud: [AUD] }],
    ['sub-number', 'sub as a number', { sub: 7 }],
  ];
  return cases.map(([id, description, over]) => ({
    id: `claims-${id}`,
    description,
    reason: 'passport_claims_invalid',
    build: () => withPassport(`claims-${id}`, rawPassport(ISSUER_HEADER, claimsText(`vec-claims-${id}`, over))),
  }));
}

function dropHeader(id: string, name: string): { signing: Signing; request: EnvoyRequest } {
  const { g, proof } = signed(id);
  const r = envoy(g, proof);
  r.headers = r.headers.filter(([n]) => n !== name);
  return { signing: g, request: r };
}

async function negative(c: NegativeCase): Promise<NegativeVector> {
  const built = c.build();
  const d = await decide(built.request, built.presentations_before ?? 0, built.environment);
  if (d.reason !== c.reason) throw new Error(`negative vector ${c.id}: expected ${c.reason}, the engine said ${d.reason}`);
  return {
    id: c.id,
    description: c.description,
    ...(built.signing ? { signing: built.signing } : {}),
    request: built.request,
    ...(built.presentations_before ? { presentations_before: built.presentations_before } : {}),
    ...(built.environment ? { environment: built.environment } : {}),
    reason: c.reason,
  };
}

// ---------------------------------------------------------------------------------------------

const repoRoot = (): string => PACKAGE_ROOT;

async function main(): Promise<void> {
  const checked = validateBundle(JSON.parse(JSON.stringify(BUNDLE)));
  if (!checked.ok) throw new Error(`vector bundle invalid:\n${checked.problems.join('\n')}`);
  compiled = compileBundle(checked.bundle);

  const file = join(repoRoot(), 'test', 'vectors', 'transcript-v1.json');
  const previous = new Map<string, PositiveVector>();
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (existing) for (const v of (JSON.parse(existing) as { positive: PositiveVector[] }).positive) previous.set(v.id, v);

  const ids = new Set<string>();
  const unique = (id: string): void => {
    if (ids.has(id)) throw new Error(`duplicate vector id ${id}`);
    ids.add(id);
  };
  const pos: PositiveVector[] = [];
  for (const spec of POSITIVE) {
    unique(spec.id);
    pos.push(await positive(spec, previous));
  }
  const neg: NegativeVector[] = [];
  for (const c of [...NEGATIVE, ...KEY_NEGATIVE]) {
    unique(c.id);
    neg.push(await negative(c));
  }

  const doc = {
    format: 'trustplane-transcript-v1-vectors',
    spec: 'docs/transcript-v1.md',
    generated_by: 'npx tsc -p . && node dist/scripts/gen-vectors.js (scripts/gen-vectors.ts); generated, do not edit',
    warning: 'TEST KEYS ONLY. The private keys below are published on purpose; never trust them anywhere.',
    now: NOW,
    engine: {
      note: 'DEFAULT_ENGINE_OPTIONS of core/src/engine/options.ts; each vector runs against a fresh replay store',
      clock_tolerance_s: 30,
      max_passport_lifetime_s: 3600,
      default_route_lifetime_s: 300,
      proof_max_age_s: { realtime: 30, bounded: 120, 'offline-ok': 600 },
    },
    keys: Object.fromEntries(
      (Object.keys(KEY_JWKS) as KeyName[]).map((name) => [
        name,
        {
          role: KEY_JWKS[name].role,
          kid: KEY_JWKS[name].kid,
          alg: KEYS[name].alg,
          private_jwk_test_only: KEY_JWKS[name].jwk,
          public_jwk: publicOf(name),
          jkt: jwkThumbprint(KEYS[name].publicJwk),
        },
      ]),
    ),
    bundle: BUNDLE,
    positive: pos,
    negative: neg,
    jwk: JWK_CASES.map(jwkVector),
  };
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (process.argv.includes('--check')) {
    if (text !== existing) {
      console.error(`${file} differs from what the generator produces`);
      process.exitCode = 1;
      return;
    }
    console.log(`${file} is up to date (${pos.length} positive, ${neg.length} negative, ${JWK_CASES.length} jwk)`);
    return;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote ${file}: ${pos.length} positive, ${neg.length} negative, ${JWK_CASES.length} jwk vectors`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
