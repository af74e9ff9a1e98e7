/**
 * Generates test/vectors/transcript-v1.json, the transcript-v1 conformance vectors
 * (docs/transcript-v1.md §14), from the cases in test/vectors/cases/ (dev/vectors/cases.ts reads them).
 *
 *   npx tsc -p . && node dist/dev/vectors/gen-vectors.js           # write the file (npm run vectors)
 *   npx tsc -p . && node dist/dev/vectors/gen-vectors.js --check   # exit 1 if the committed file differs
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
 * The keys in test/vectors/cases/inputs.json are TEST KEYS, published on purpose. Never trust them anywhere.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import { validateBundle } from '../../core/src/bundle/validate.js';
import { b64url, fromB64url, sha256, sha256b64url, sha256hex } from '../../core/src/encoding.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { signCompact } from '../../core/src/jws.js';
import { checkPublicJwk, importPrivateJwk, jwkThumbprint, JwkError, signBytes, verifyBytes, type PrivateJwk, type SigningKey } from '../../core/src/keys.js';
import { issuePassport, PASSPORT_TYP } from '../../core/src/passport.js';
import { encodeProof, parseProof } from '../../core/src/proof.js';
import { readPassportClaims, signRequest } from '../../core/src/sign-request.js';
import { buildTranscript, fieldDigests, type TranscriptInput } from '../../core/src/transcript.js';
import { HEADER, type KeyBinding } from '../../core/src/types.js';
import { CASES_DIR, readCases, resolver, type Json } from './cases.js';
import { vectorRequestView, vectorSurroundings } from './format.js';
import type { EnvoyRequest, JwkVector, NegativeVector, PositiveVector, Signing, VectorBody, VectorEnvironment, VectorHeaders } from './format.js';

// ---------------------------------------------------------------------------------------------
// Fixed inputs (test/vectors/cases/inputs.json)

interface Inputs {
  now: number;
  identity: { issuer: string; trust_domain: string; subject: string; audience: string; authority: string };
  keys: Record<string, { kid: string; role: string; jwk: PrivateJwk }>;
  bodies: Record<string, Json>;
  bundle: Json;
}

const INPUTS = readCases<Inputs>('inputs.json');
/** The verifier's clock for every vector. */
const NOW = INPUTS.now;
const NOW_MS = NOW * 1000;
const { issuer: ISS, trust_domain: TD, subject: SUB, audience: AUD, authority: API } = INPUTS.identity;
const KEY_JWKS = INPUTS.keys;
const KEYS: Record<string, SigningKey> = Object.fromEntries(Object.entries(KEY_JWKS).map(([name, k]) => [name, importPrivateJwk(k.jwk, k.kid)]));

function key(name: string): SigningKey {
  const k = KEYS[name];
  if (k === undefined) throw new Error(`no key ${name} in test/vectors/cases/inputs.json`);
  return k;
}

function publicOf(name: string): Record<string, string> {
  const { d: _private, ...pub } = KEY_JWKS[name]!.jwk;
  return { ...pub };
}

// ---------------------------------------------------------------------------------------------
// Building blocks

function nonceFor(id: string): string {
  return b64url(sha256(`transcript-v1 vector nonce ${id}`)).slice(0, 24);
}

interface PassportOptions {
  jti: string;
  key?: string;
  holder?: string;
  key_binding?: KeyBinding;
  aud?: string;
  iat?: number;
  lifetime_s?: number;
  sub?: string;
  iss?: string;
  trust_domain?: string;
  reusable?: boolean;
}

function passport(o: PassportOptions): string {
  return issuePassport({
    key: key(o.key ?? 'issuer'),
    issuer: o.iss ?? ISS,
    subject: o.sub ?? SUB,
    audience: o.aud ?? AUD,
    trustDomain: o.trust_domain ?? TD,
    holder: key(o.holder ?? 'holder_ed25519').publicJwk,
    keyBinding: o.key_binding ?? 'software',
    lifetimeS: o.lifetime_s ?? 60,
    nowMs: (o.iat ?? NOW - 10) * 1000,
    jti: o.jti,
    ...(o.reusable ? { reusable: true } : {}),
  });
}

/** The claims issuePassport would write, for hand-made (forged) tokens. */
function claimsFor(jti: string, holder = 'holder_ed25519'): Record<string, unknown> {
  const h = key(holder).publicJwk;
  return { iss: ISS, sub: SUB, aud: AUD, iat: NOW - 10, exp: NOW + 50, jti, trust_domain: TD, cnf: { jwk: { kty: h.kty, crv: h.crv, x: h.x } }, key_binding: 'software' };
}

function jsonB64(v: unknown): string {
  return b64url(Buffer.from(JSON.stringify(v)));
}

const ISSUER_HEADER = JSON.stringify({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: KEY_JWKS['issuer']!.kid });

/** The trusted issuer's signature over exact header and claims bytes. */
function rawPassportBytes(header: Buffer, payload: Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${b64url(signBytes('EdDSA', key('issuer').privateKey, Buffer.from(input, 'ascii')))}`;
}

/** The signed request of the case being built, for {"$signed": …}. */
let current: Signing | undefined;

const bytes = (v: unknown): Buffer => {
  if (!Buffer.isBuffer(v)) throw new Error(`expected bytes in the vector cases, got ${JSON.stringify(v)}`);
  return v;
};
const bodies = new Map<string, Buffer>();

const resolve = resolver({
  $now: (n) => NOW + (n as number),
  $utf8: (s) => Buffer.from(s as string, 'utf8'),
  $body: (name, r) => {
    const n = name as string;
    if (!bodies.has(n)) bodies.set(n, bytes(r(INPUTS.bodies[n] ?? null)));
    return bodies.get(n);
  },
  $fill: (a) => Buffer.alloc((a as number[])[1]!, (a as number[])[0]!),
  $affine: (a) => {
    const [m, c, length] = a as [number, number, number];
    return Buffer.from(Array.from({ length }, (_, i) => (i * m + c) & 0xff));
  },
  $slice: (a, r) => {
    const [b, start, end] = a as [Json, number, number];
    return bytes(r(b)).subarray(start, end);
  },
  $base64: (b, r) => bytes(r(b)).toString('base64'),
  $base64url: (b, r) => b64url(bytes(r(b))),
  $sha256b64url: (b, r) => sha256b64url(r(b) as string | Buffer),
  $length: (b, r) => String(bytes(r(b)).length),
  $nonce: (label) => nonceFor(label as string),
  $public_jwk: (name) => publicOf(name as string),
  $jkt: (name) => jwkThumbprint(key(name as string).publicJwk),
  $claims: (a, r) => {
    const { jti, holder, with: over } = a as { jti: string; holder?: string; with?: Json };
    return { ...claimsFor(jti, holder), ...(over === undefined ? {} : (r(over) as object)) };
  },
  $claims_text: (a, r) => {
    const { jti, with: over } = a as { jti: string; with?: Json };
    return JSON.stringify({ ...claimsFor(jti), ...(over === undefined ? {} : (r(over) as object)) });
  },
  $passport: (o, r) => passport(r(o) as PassportOptions),
  $jws: (a, r) => {
    const { header, claims, signer } = a as { header: Json; claims: Json; signer: string };
    return signCompact(r(header) as never, r(claims) as Record<string, unknown>, 'EdDSA', key(signer).privateKey);
  },
  $jws_text: (a, r) => {
    const o = a as { header?: string; claims: Json; claims_byte?: { find: string; offset: number; byte: number }; signature?: 'empty' };
    const payload = Buffer.from(r(o.claims) as string, 'utf8');
    if (o.claims_byte) payload[payload.indexOf(o.claims_byte.find) + o.claims_byte.offset] = o.claims_byte.byte;
    const token = rawPassportBytes(Buffer.from(o.header ?? ISSUER_HEADER, 'utf8'), payload);
    return o.signature === 'empty' ? `${token.split('.').slice(0, 2).join('.')}.` : token;
  },
  $unsigned_jws: (a, r) => {
    const { header, claims } = a as { header: Json; claims: Json };
    return `${jsonB64(r(header))}.${jsonB64(r(claims))}.`;
  },
  $hs256_jws: (a, r) => {
    const { header, claims, secret_is_x_of } = a as { header: Json; claims: Json; secret_is_x_of: string };
    const input = `${jsonB64(r(header))}.${jsonB64(r(claims))}`;
    return `${input}.${b64url(createHmac('sha256', Buffer.from(KEY_JWKS[secret_is_x_of]!.jwk.x!, 'base64url')).update(input).digest())}`;
  },
  $claims_replaced: (a, r) => {
    const { passport: token, claims } = a as { passport: Json; claims: Json };
    const [h, , s] = (r(token) as string).split('.');
    return `${h}.${jsonB64(r(claims))}.${s}`;
  },
  $concat: (parts, r) => (parts as Json[]).map((p) => r(p) as string).join(''),
  $signed: (member) => {
    if (current === undefined || member !== 'passport') throw new Error(`{"$signed": ${JSON.stringify(member)}} outside a signed case`);
    return current.passport;
  },
});

/** The signed request of a case: test/vectors/cases/*.json name its parts (docs/transcript-v1.md §14 `signing`). */
interface SignSpec {
  holder?: string;
  passport?: Json;
  route: string;
  bind?: string[];
  ts?: Json;
  field_digests?: boolean;
  method: string;
  authority?: string;
  path: string;
  headers?: VectorHeaders;
  body?: Json;
}

function signing(id: string, s: SignSpec): Signing {
  const holder = s.holder ?? 'holder_ed25519';
  return {
    holder,
    alg: key(holder).alg,
    route: s.route,
    bind_headers: s.bind ?? [],
    nonce: nonceFor(id),
    ts: s.ts === undefined ? NOW - 5 : (resolve(s.ts) as number),
    field_digests: s.field_digests ?? true,
    passport: s.passport === undefined ? passport({ jti: `vec-${id}`, holder }) : (resolve(s.passport) as string),
    method: s.method,
    authority: s.authority ?? API,
    path: s.path,
    headers: s.headers ?? [],
    body_base64: (s.body === undefined ? Buffer.alloc(0) : bytes(resolve(s.body))).toString('base64'),
  };
}

function sign(g: Signing): { proof: string; transcript: string } {
  const signed = signRequest(
    { method: g.method, authority: g.authority, pathAndQuery: g.path, headers: g.headers, body: Buffer.from(g.body_base64, 'base64') },
    { passport: g.passport, holder: key(g.holder), route: g.route, bindHeaders: g.bind_headers, nowMs: g.ts * 1000, nonce: g.nonce, fieldDigests: g.field_digests },
  );
  return { proof: signed.headers[HEADER.proof], transcript: signed.transcript.bytes.toString('utf8') };
}

/** The transcript input a signer holds for `g` (what signRequest computes), for hand-made proofs. */
function transcriptInput(g: Signing, lenientCnf: boolean): TranscriptInput {
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
    cnfJkt: lenientCnf ? lenientJkt(c.cnf.jwk as unknown as Record<string, unknown>) : jwkThumbprint(c.cnf.jwk),
  };
}

/** The RFC 7638 text hashed as given, the way a verifier without the §4.1 rules would. */
function lenientJkt(jwk: Record<string, unknown>): string {
  return sha256b64url(
    jwk.kty === 'EC' ? `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}` : `{"crv":${JSON.stringify(jwk.crv)},"kty":"OKP","x":${JSON.stringify(jwk.x)}}`,
  );
}

/** One signature that verifies over every message for the identity point: R = (0, 1), S = 0. */
const IDENTITY_UNIVERSAL_SIGNATURE = Buffer.concat([Buffer.from([1]), Buffer.alloc(63)]);

/** How a negative case makes or changes its proof; absent: the honest proof of signRequest. */
interface ProofSpec {
  /** A proof made by hand over the transcript input a signer holds (or a lenient verifier would rebuild). */
  handmade?: { signer?: string; field_digests?: boolean; cnf_jkt?: 'lenient'; transcript?: { key_binding?: KeyBinding } };
  /** Proof parameters replaced or moved, signature kept: what an attacker in the middle can do. */
  set?: Record<string, Json>;
  add?: Record<string, number>;
  /** The parameters' JSON text rewritten (first occurrence), signature kept. */
  text_replace?: [string, string];
  signature?: 'empty';
  prefix?: string;
}

function makeProof(g: Signing, p: ProofSpec | undefined): string {
  if (p?.handmade) {
    const h = p.handmade;
    const signer = h.signer ?? g.holder;
    if (signer !== 'identity' && key(signer).alg !== 'EdDSA') throw new Error('hand-made proofs must be reproducible: EdDSA or "identity" only');
    const input = transcriptInput(g, h.cnf_jkt === 'lenient');
    const t = buildTranscript(h.transcript?.key_binding ? { ...input, keyBinding: h.transcript.key_binding } : input);
    if (!t.ok) throw new Error(`cannot build transcript: ${t.reason}`);
    const signature = signer === 'identity' ? IDENTITY_UNIVERSAL_SIGNATURE : signBytes('EdDSA', key(signer).privateKey, t.value.bytes);
    const h2 = input.headers.map(([n]) => n);
    return encodeProof({ ts: g.ts, nonce: g.nonce, route: g.route, h: h2, ...(h.field_digests ? { fd: fieldDigests(t.value) } : {}) }, signature);
  }
  const proof = sign(g).proof;
  if (p === undefined) return proof;
  const [, params, sig] = proof.split('.') as [string, string, string];
  const text = fromB64url(params)!.toString('utf8');
  if (p.set || p.add) {
    const o = JSON.parse(text) as Record<string, unknown>;
    for (const [k, v] of Object.entries(p.set ?? {})) o[k] = resolve(v);
    for (const [k, n] of Object.entries(p.add ?? {})) o[k] = (o[k] as number) + n;
    return `v1.${jsonB64(o)}.${sig}`;
  }
  if (p.text_replace) return `v1.${b64url(Buffer.from(text.replace(...p.text_replace), 'utf8'))}.${sig}`;
  if (p.signature === 'empty') return proof.slice(0, proof.lastIndexOf('.') + 1);
  if (p.prefix !== undefined) return `${p.prefix}${proof.slice(3)}`;
  throw new Error(`unknown proof change ${JSON.stringify(p)}`);
}

interface EnvoyOverrides {
  method?: string;
  authority?: string;
  path?: string;
  headers?: VectorHeaders;
  body?: VectorBody;
  route_id?: string;
  peer_principal?: string;
  passport?: string;
  proof?: string;
}

/**
 * How Envoy presents the signed request to ext_authz: names lower-cased, each value with its
 * surrounding OWS removed by the codec, the two credential headers appended, the buffered body.
 */
function envoy(g: Signing, proof: string, spec: Json | undefined): EnvoyRequest {
  const o = (spec === undefined ? {} : resolve(spec)) as EnvoyOverrides;
  const headers: VectorHeaders = o.headers ?? g.headers.map(([n, v]) => [n.toLowerCase(), v.replace(/^[ \t]+|[ \t]+$/g, '')]);
  const body: VectorBody = o.body ?? (g.body_base64 === '' ? { source: 'empty' } : { source: 'bytes', base64: g.body_base64 });
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

// ---------------------------------------------------------------------------------------------
// The three tables: test/vectors/cases/positive.json, negative.json, jwk.json

interface PositiveCase extends SignSpec {
  id: string;
  description: string;
  envoy?: Json;
}

async function positive(c: PositiveCase, previous: Map<string, PositiveVector>): Promise<PositiveVector> {
  const g = signing(c.id, c);
  current = g;
  const first = sign(g);
  const transcript = first.transcript;
  let proof = first.proof;
  if (g.alg === 'ES256') {
    // Keep an earlier ES256 signature when it still holds for exactly these bytes and parameters.
    const prev = previous.get(c.id);
    const prevProof = prev ? parseProof(prev.proof) : undefined;
    if (
      prev &&
      prevProof?.ok &&
      prev.transcript === transcript &&
      prev.proof.split('.')[1] === proof.split('.')[1] &&
      verifyBytes('ES256', key(g.holder).publicKey, Buffer.from(transcript, 'utf8'), prevProof.proof.signature)
    ) {
      proof = prev.proof;
    }
  }
  const request = envoy(g, proof, c.envoy);
  const d = await decide(request);
  const hex = sha256hex(Buffer.from(transcript, 'utf8'));
  if (d.reason !== 'ok') throw new Error(`positive vector ${c.id} was denied: ${d.reason}`);
  if (d.transcriptSha256 !== hex) throw new Error(`positive vector ${c.id}: the verifier rebuilt another transcript`);
  const parsed = parseProof(proof);
  if (!parsed.ok) throw new Error(`positive vector ${c.id}: unparsable proof`);
  return {
    id: c.id,
    description: c.description,
    signing: g,
    request,
    transcript,
    transcript_sha256: hex,
    proof,
    signature: b64url(parsed.proof.signature),
    signature_check: g.alg === 'EdDSA' ? 'exact' : 'verify',
  };
}

interface NegativeCase {
  id: string;
  description: string;
  reason: string;
  /** Defaults: route "files", GET /files/a?x=1. */
  sign?: Partial<SignSpec>;
  proof?: ProofSpec;
  envoy?: Json;
  drop_header?: string;
  repeat_proof_header?: boolean;
  presentations_before?: number;
  environment?: VectorEnvironment;
}

async function negative(c: NegativeCase): Promise<NegativeVector> {
  const g = signing(c.id, { route: 'files', method: 'GET', path: '/files/a?x=1', ...c.sign });
  current = g;
  const proof = makeProof(g, c.proof);
  const request = envoy(g, proof, c.envoy);
  if (c.drop_header !== undefined) request.headers = request.headers.filter(([n]) => n !== c.drop_header);
  if (c.repeat_proof_header) request.headers.push([HEADER.proof, proof]);
  const d = await decide(request, c.presentations_before ?? 0, c.environment);
  if (d.reason !== c.reason) throw new Error(`negative vector ${c.id}: expected ${c.reason}, the engine said ${d.reason}`);
  return {
    id: c.id,
    description: c.description,
    signing: g,
    request,
    ...(c.presentations_before ? { presentations_before: c.presentations_before } : {}),
    ...(c.environment ? { environment: c.environment } : {}),
    reason: c.reason,
  };
}

/** Each JWK is accepted or refused by the one import path (docs/transcript-v1.md §4.1). */
function jwkVector(c: JwkVector): JwkVector {
  let jkt: string | undefined;
  try {
    jkt = checkPublicJwk(c.jwk, c.context === 'cnf' ? 'bare' : 'public').jkt;
  } catch (e) {
    if (!(e instanceof JwkError)) throw e;
  }
  if ((jkt !== undefined) !== c.valid) throw new Error(`jwk vector ${c.id}: expected ${c.valid ? 'accepted' : 'refused'}`);
  return { id: c.id, description: c.description, context: c.context, jwk: c.jwk, valid: c.valid, ...(jkt !== undefined ? { jkt } : {}) };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const bundleDoc = resolve(INPUTS.bundle);
  const checked = validateBundle(JSON.parse(JSON.stringify(bundleDoc)));
  if (!checked.ok) throw new Error(`vector bundle invalid:\n${checked.problems.join('\n')}`);
  compiled = compileBundle(checked.bundle);

  const file = join(CASES_DIR, '..', 'transcript-v1.json');
  const previous = new Map<string, PositiveVector>();
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (existing) for (const v of (JSON.parse(existing) as { positive: PositiveVector[] }).positive) previous.set(v.id, v);

  const ids = new Set<string>();
  const unique = (id: string): void => {
    if (ids.has(id)) throw new Error(`duplicate vector id ${id}`);
    ids.add(id);
  };
  const pos: PositiveVector[] = [];
  for (const c of readCases<PositiveCase[]>('positive.json')) {
    unique(c.id);
    pos.push(await positive(c, previous));
  }
  const neg: NegativeVector[] = [];
  for (const c of readCases<NegativeCase[]>('negative.json')) {
    unique(c.id);
    neg.push(await negative(c));
  }
  const jwk = readCases<JwkVector[]>('jwk.json').map(jwkVector);

  const doc = {
    format: 'trustplane-transcript-v1-vectors',
    spec: 'docs/transcript-v1.md',
    generated_by: 'npx tsc -p . && node dist/dev/vectors/gen-vectors.js (dev/vectors/gen-vectors.ts, cases in test/vectors/cases/); generated, do not edit',
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
      Object.keys(KEY_JWKS).map((name) => [
        name,
        {
          role: KEY_JWKS[name]!.role,
          kid: KEY_JWKS[name]!.kid,
          alg: key(name).alg,
          private_jwk_test_only: KEY_JWKS[name]!.jwk,
          public_jwk: publicOf(name),
          jkt: jwkThumbprint(key(name).publicJwk),
        },
      ]),
    ),
    bundle: bundleDoc,
    positive: pos,
    negative: neg,
    jwk,
  };
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (process.argv.includes('--check')) {
    if (text !== existing) {
      console.error(`${file} differs from what the generator produces`);
      process.exitCode = 1;
      return;
    }
    console.log(`${file} is up to date (${pos.length} positive, ${neg.length} negative, ${jwk.length} jwk)`);
    return;
  }
  writeFileSync(file, text);
  console.log(`wrote ${file}: ${pos.length} positive, ${neg.length} negative, ${jwk.length} jwk vectors`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
