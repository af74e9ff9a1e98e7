/**
 * Decision engine acceptance: every reason code in the registry is produced through verifyRequest,
 * with real keys, real signatures and real stores; only the clock is frozen. A final test checks
 * that the set of codes produced here is exactly REASON_CODES, so a new code without a test fails.
 */
import { strict as assert } from 'node:assert';
import { createHmac, randomBytes } from 'node:crypto';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import type { BundleDocument, Revocations } from '../../core/src/bundle/types.js';
import { b64url, fromB64url } from '../../core/src/encoding.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../core/src/engine/options.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { TRANSCRIPT_V1 } from '../../core/src/engine/kinds/index.js';
import type { ProofKind } from '../../core/src/engine/proof-kind.js';
import { signCompact } from '../../core/src/jws.js';
import { generateSigningKey, jwkThumbprint, signBytes, type SigningKey } from '../../core/src/keys.js';
import { encodeProof } from '../../core/src/proof.js';
import { signRequest } from '../../core/src/sign-request.js';
import { fieldDigests } from '../../core/src/transcript.js';
import { PASSPORT_TYP } from '../../core/src/passport.js';
import { REASONS, REASON_CODES, type ReasonCode } from '../../core/src/reasons.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { RedisReplayStore, createReplayStore } from '../../core/src/replay/index.js';
import type { ReplayStore } from '../../core/src/replay/types.js';
import { HEADER, type Decision, type RequestView } from '../../core/src/types.js';
import { RedisServer, redisBinaryOrSkip } from '../support/redis-server.js';
import { describeDpopCases } from './dpop-cases.js';
import { AUDIENCE, ISSUER, NOW_MS, NOW_S, SUBJECT, TRUST_DOMAIN, makeWorld, passport, route, signed, view, type Presented, type World } from '../support/world.js';

const covered = new Set<ReasonCode>();
const skippedWithoutRedis = new Set<ReasonCode>();

/** The routes every case here runs against: the world's three plus one per policy feature under test. */
function engineWorld(): World {
  return makeWorld({
    routes: [
      route('payments-create', { bound_headers: ['content-type'], body: { mode: 'bound', hash_source: 'filter' } }),
      route('payments-read', { match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } }),
      route('attested-admin', {
        match: { path: '/v1/admin/**' },
        required_key_binding: 'attested_workload',
        allowed_sources: [{ issuer: 'https://broker.example.test', trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/**' }],
      }),
      route('any-method', { match: { path: '/v2/**' } }),
      route('small-body', { match: { methods: ['POST'], path: '/v1/small' }, body: { mode: 'bound', max_bytes: 4 } }),
      route('peer-bound', { match: { methods: ['POST'], path: '/v1/peer' }, require_peer_principal: true }),
      route('realtime', { match: { methods: ['POST'], path: '/v1/rt' }, freshness_class: 'realtime' }),
      route('dry', { match: { methods: ['POST'], path: '/v1/dry' }, mode: 'dry_run' }),
      route('long-lived', { match: { methods: ['POST'], path: '/v1/long' }, max_passport_lifetime_s: 3600 }),
      route('reuse', { match: { methods: ['POST'], path: '/v1/reuse' }, bound_headers: ['content-type'], reusable_passport: { max_lifetime_s: 600 } }),
    ],
  });
}

interface Run {
  readonly view: RequestView;
  readonly bundle?: CompiledBundle | 'none';
  readonly store?: ReplayStore;
  readonly nowMs?: number;
  readonly options?: EngineOptions;
  /** Envoy's deadline less the answer margin, performance.now() clock. */
  readonly deadline?: number;
}

/** Runs one decision and asserts the exact reason, allow and HTTP status (and the registry agrees). */
async function expectDecision(w: World, run: Run, reason: ReasonCode, httpStatus: number, allow = reason === 'ok'): Promise<Decision> {
  const d = await verifyRequest({
    view: run.view,
    bundle: run.bundle === 'none' ? undefined : (run.bundle ?? w.bundle),
    store: run.store ?? new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity }),
    nowMs: run.nowMs ?? NOW_MS,
    ...(run.options ? { options: run.options } : {}),
    ...(run.deadline !== undefined ? { deadline: run.deadline } : {}),
  });
  assert.equal(d.reason, reason);
  assert.equal(d.allow, allow, `allow for ${reason}`);
  assert.equal(d.httpStatus, httpStatus, `httpStatus for ${reason}`);
  assert.equal(REASONS[reason].status, httpStatus, `registry status for ${reason}`);
  assert.equal(d.audit.reason_code, reason);
  // The phase that decided is the registry's phase of the reason; a deny says why, an allow does not.
  assert.equal(d.phase, REASONS[reason].phase, `phase for ${reason} (detail: ${d.detail})`);
  assert.equal(d.audit.phase, d.phase);
  if (reason === 'ok') assert.ok(d.detail === undefined && d.audit.detail === null, 'an allow has no detail');
  else assert.ok(typeof d.detail === 'string' && d.detail.length > 0 && d.audit.detail === d.detail, `a detail for ${reason}`);
  covered.add(reason);
  return d;
}

/** A compact JWS built by hand: header and claims as given, signature from `sign` over the signing input. */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, sign: (input: Buffer) => Uint8Array): string {
  const input = `${b64url(Buffer.from(JSON.stringify(header)))}.${b64url(Buffer.from(JSON.stringify(claims)))}`;
  return `${input}.${b64url(sign(Buffer.from(input, 'ascii')))}`;
}

function claims(w: World, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: SUBJECT,
    aud: AUDIENCE,
    iat: NOW_S,
    exp: NOW_S + 60,
    jti: `jti-${b64url(randomBytes(9))}`,
    trust_domain: TRUST_DOMAIN,
    cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: w.holder.publicJwk.x } },
    key_binding: 'software',
    ...over,
  };
}

/** A passport signed with a real key but with a header and claims of the test's choosing. */
function issued(key: SigningKey, header: Record<string, unknown>, body: Record<string, unknown>): string {
  return signCompact({ alg: key.alg, typ: PASSPORT_TYP, kid: key.kid, ...header }, body, key.alg, key.privateKey);
}

/** The same presentation with some headers replaced (undefined deletes). */
function withHeaders(p: Presented, changes: Record<string, string | undefined>): Presented {
  const headers = new Map(p.headers);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) headers.delete(k);
    else headers.set(k, v);
  }
  return { request: p.request, headers };
}

/** Rewrites the proof's params after signing, keeping its signature. */
function reproof(proof: string, change: (params: Record<string, unknown>) => void): string {
  const [, params, sig] = proof.split('.');
  const p = JSON.parse(fromB64url(params!)!.toString('utf8')) as Record<string, unknown>;
  change(p);
  return `v1.${b64url(Buffer.from(JSON.stringify(p)))}.${sig!}`;
}

function bundleWith(w: World, over: Omit<Partial<BundleDocument>, 'revocations'> & { revocations?: Partial<Revocations> }): CompiledBundle {
  return compileBundle({ ...w.doc, ...over, revocations: { ...w.doc.revocations, ...over.revocations } });
}

describe('decision engine: every reason code through verifyRequest', () => {
  let w: World;
  before(() => {
    w = engineWorld();
  });

  describe('allow', () => {
    it('allows a correctly signed request with 200 and the identity of the passport', async () => {
      const d = await expectDecision(w, { view: view(signed(w)) }, 'ok', 200);
      assert.deepEqual(
        { ...d.identity },
        { issuer: ISSUER, subject: SUBJECT, trustDomain: TRUST_DOMAIN, keyBinding: 'software', kid: w.issuerKey.kid, jti: d.identity!.jti, audience: AUDIENCE },
      );
      assert.equal(d.dryRun, false);
    });
    it('allows an ES256 attested_workload passport on a route that demands attested_workload', async () => {
      const pp = passport(w, { key: w.attestedKey, issuer: 'https://broker.example.test', keyBinding: 'attested_workload' });
      const p = signed(w, { pathAndQuery: '/v1/admin/users' }, { passport: pp, route: 'attested-admin' });
      await expectDecision(w, { view: view(p) }, 'ok', 200);
    });
  });

  describe('parse', () => {
    it('denies a request without a method as request_malformed (400)', async () => {
      await expectDecision(w, { view: view(signed(w), { method: '' }) }, 'request_malformed', 400);
    });
    it('denies a request without a passport header as passport_missing (401)', async () => {
      await expectDecision(w, { view: view(withHeaders(signed(w), { [HEADER.passport]: undefined })) }, 'passport_missing', 401);
    });
    it('denies a request without a proof header as proof_missing (401)', async () => {
      await expectDecision(w, { view: view(withHeaders(signed(w), { [HEADER.proof]: undefined })) }, 'proof_missing', 401);
    });
    it('denies two comma-joined passports as credential_duplicated (401)', async () => {
      const p = signed(w);
      const pp = p.headers.get(HEADER.passport)!;
      await expectDecision(w, { view: view(withHeaders(p, { [HEADER.passport]: `${pp},${pp}` })) }, 'credential_duplicated', 401);
    });
    it('denies a proof header the edge saw twice as credential_duplicated (401)', async () => {
      await expectDecision(w, { view: view(signed(w), { repeatedHeaders: new Set([HEADER.proof]) }) }, 'credential_duplicated', 401);
    });
    it('denies a passport that is not a compact JWS as passport_malformed (401)', async () => {
      await expectDecision(w, { view: view(withHeaders(signed(w), { [HEADER.passport]: 'not.a-jws' })) }, 'passport_malformed', 401);
    });
    it('denies a proof that is not transcript-v1 as proof_malformed (401)', async () => {
      await expectDecision(w, { view: view(withHeaders(signed(w), { [HEADER.proof]: 'v2.e30.AAAA' })) }, 'proof_malformed', 401);
    });
    it('denies a passport whose typ is JWT as passport_typ_invalid (401)', async () => {
      const pp = issued(w.issuerKey, { typ: 'JWT' }, claims(w));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_typ_invalid', 401);
    });
    it('denies alg "none" with an empty signature as passport_alg_not_allowed (401)', async () => {
      const pp = craft({ alg: 'none', typ: PASSPORT_TYP, kid: w.issuerKey.kid }, claims(w), () => new Uint8Array(0));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_alg_not_allowed', 401);
    });
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      it(`denies ${alg} keyed with the issuer's public key bytes (alg confusion) as passport_alg_not_allowed (401)`, async () => {
        const secret = fromB64url(w.issuerKey.publicJwk.x)!;
        const hash = `sha${alg.slice(2)}`;
        const pp = craft({ alg, typ: PASSPORT_TYP, kid: w.issuerKey.kid }, claims(w), (input) => createHmac(hash, secret).update(input).digest());
        await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_alg_not_allowed', 401);
      });
    }
    for (const alg of ['eddsa', 'RS256', 'ES384', 'NONE']) {
      it(`denies alg ${JSON.stringify(alg)} as passport_alg_not_allowed (401)`, async () => {
        const pp = issued(w.issuerKey, { alg }, claims(w));
        await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_alg_not_allowed', 401);
      });
    }
    it('denies a passport signed by its own embedded jwk as passport_key_in_header (401)', async () => {
      const attacker = generateSigningKey('EdDSA');
      const pp = issued(attacker, { kid: w.issuerKey.kid, jwk: attacker.publicJwk }, claims(w));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_key_in_header', 401);
    });
    for (const member of ['jku', 'x5u', 'x5c', 'x5t']) {
      it(`denies a passport whose header carries ${member} as passport_key_in_header (401)`, async () => {
        const value = member === 'x5c' ? ['MIIB'] : member === 'x5t' ? 'AAAA' : 'https://attacker.example/keys';
        const pp = issued(w.issuerKey, { [member]: value }, claims(w));
        await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_key_in_header', 401);
      });
    }
  });

  describe('signature', () => {
    it('denies a kid the bundle does not hold as passport_kid_unknown (401)', async () => {
      const stranger = generateSigningKey('EdDSA');
      await expectDecision(w, { view: view(signed(w, {}, { passport: passport(w, { key: stranger }) })) }, 'passport_kid_unknown', 401);
    });
    it('denies claims altered after signing as passport_signature_invalid (401)', async () => {
      const [h, , s] = passport(w).split('.');
      const pp = `${h!}.${b64url(Buffer.from(JSON.stringify(claims(w, { sub: 'spiffe://example.test/ns/shop/sa/admin' }))))}.${s!}`;
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_signature_invalid', 401);
    });
    it('denies a header alg that is not the alg of the kid (ES256 on an Ed25519 key) as passport_signature_invalid (401)', async () => {
      const pp = craft({ alg: 'ES256', typ: PASSPORT_TYP, kid: w.issuerKey.kid }, claims(w), () => randomBytes(64));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_signature_invalid', 401);
    });
  });

  describe('a reloaded bundle', () => {
    // Trust keys are compiled per bundle: after a reload that gives a kid another key (even of
    // another algorithm), nothing of the old key may still verify a passport.
    function rekeyed(key: SigningKey): CompiledBundle {
      const keys = w.doc.keys.map((k) => (k.kid === w.issuerKey.kid ? { ...k, jwk: key.publicJwk } : k));
      return compileBundle({ ...w.doc, serial: w.doc.serial + 1, keys });
    }
    it('verifies with the key the new bundle gives the kid, never the one the old bundle gave it', async () => {
      const successor = generateSigningKey('EdDSA', w.issuerKey.kid);
      const next = rekeyed(successor);
      const byOld = view(signed(w));
      const byNew = view(signed(w, {}, { passport: passport(w, { key: successor }) }));
      await expectDecision(w, { view: byOld, bundle: next }, 'passport_signature_invalid', 401);
      await expectDecision(w, { view: byNew, bundle: w.bundle }, 'passport_signature_invalid', 401);
      await expectDecision(w, { view: byNew, bundle: next }, 'ok', 200);
      await expectDecision(w, { view: byOld, bundle: w.bundle }, 'ok', 200);
    });
    it('takes the algorithm from the new bundle\'s key when a kid changes algorithm', async () => {
      const successor = generateSigningKey('ES256', w.issuerKey.kid);
      const next = rekeyed(successor);
      await expectDecision(w, { view: view(signed(w)), bundle: next }, 'passport_signature_invalid', 401);
      await expectDecision(w, { view: view(signed(w, {}, { passport: passport(w, { key: successor }) })), bundle: next }, 'ok', 200);
      await expectDecision(w, { view: view(signed(w, {}, { passport: passport(w, { key: successor }) })), bundle: w.bundle }, 'passport_signature_invalid', 401);
    });
  });

  describe('claims', () => {
    it('denies a subject that is not a URI as passport_claims_invalid (401)', async () => {
      const pp = issued(w.issuerKey, {}, claims(w, { sub: 'checkout' }));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_claims_invalid', 401);
    });
    it('denies a passport without exp as passport_claims_invalid (401)', async () => {
      const pp = issued(w.issuerKey, {}, claims(w, { exp: undefined }));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_claims_invalid', 401);
    });
    it('denies a passport that expired beyond the tolerance as passport_expired (401)', async () => {
      const pp = passport(w, { nowMs: NOW_MS - 120_000, lifetimeS: 60 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_expired', 401);
    });
    it('accepts a passport that expired within the clock tolerance', async () => {
      const pp = passport(w, { nowMs: NOW_MS - 80_000, lifetimeS: 60 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'ok', 200);
    });
    it('denies an iat beyond the tolerance in the future as passport_not_yet_valid (401)', async () => {
      const pp = passport(w, { nowMs: NOW_MS + 60_000 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_not_yet_valid', 401);
    });
    it('denies an nbf beyond the tolerance in the future as passport_not_yet_valid (401)', async () => {
      const pp = issued(w.issuerKey, {}, claims(w, { nbf: NOW_S + 45 }));
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_not_yet_valid', 401);
    });
    it('denies a lifetime above the global cap as passport_lifetime_exceeded (401) whatever the route allows, in the route phase', async () => {
      // The route allows 3600 s; a verifier capped at 600 s refuses 601, naming its cap.
      const capped: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, maxPassportLifetimeS: 600 };
      const pp = passport(w, { lifetimeS: 601 });
      const d = await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/long' }, { passport: pp, route: 'long-lived' })), options: capped }, 'passport_lifetime_exceeded', 401);
      assert.equal(d.phase, 'route');
      assert.equal(d.detail, "exp - iat is 601 s; the verifier's hard cap is 600 s");
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/long' }, { passport: passport(w, { lifetimeS: 600 }), route: 'long-lived' })), options: capped }, 'ok', 200);
      // One lifetime check, in the route phase: the audience, checked before it there, wins.
      const wrongAud = passport(w, { lifetimeS: 3601, audience: 'https://other.example.test' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: wrongAud })) }, 'audience_mismatch', 403);
    });
    it('denies a lifetime above the route limit as passport_lifetime_exceeded (401) where a longer-limit route allows it', async () => {
      const pp = passport(w, { lifetimeS: 301 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_lifetime_exceeded', 401);
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/long' }, { passport: passport(w, { lifetimeS: 301 }), route: 'long-lived' })) }, 'ok', 200);
      // The route limit is a route check: the audience, checked first in that phase, wins.
      const wrongAud = passport(w, { lifetimeS: 301, audience: 'https://other.example.test' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: wrongAud })) }, 'audience_mismatch', 403);
    });
    it('honours a lower global cap from the engine options', async () => {
      const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, maxPassportLifetimeS: 30 };
      await expectDecision(w, { view: view(signed(w)), options }, 'passport_lifetime_exceeded', 401);
    });
    it('denies a cnf key that is not a valid public key as passport_cnf_invalid (401)', async () => {
      const good = signed(w);
      const pp = issued(w.issuerKey, {}, claims(w, { cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(42) } } }));
      await expectDecision(w, { view: view(withHeaders(good, { [HEADER.passport]: pp })) }, 'passport_cnf_invalid', 401);
      const secret = issued(w.issuerKey, {}, claims(w, { cnf: { jwk: { ...w.holder.publicJwk, d: 'A'.repeat(43) } } }));
      await expectDecision(w, { view: view(withHeaders(good, { [HEADER.passport]: secret })) }, 'passport_cnf_invalid', 401);
    });
  });

  describe('trust', () => {
    it('denies an iss other than the issuer of the kid as issuer_untrusted (401)', async () => {
      const pp = passport(w, { issuer: 'https://broker.example.test' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'issuer_untrusted', 401);
    });
    it('denies a trust_domain other than the key trust domain as trust_domain_mismatch (403)', async () => {
      const pp = passport(w, { trustDomain: 'other.test' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'trust_domain_mismatch', 403);
    });
    it('denies a software issuer key minting an attested_workload passport as key_binding_exceeds_issuer (403)', async () => {
      const pp = passport(w, { keyBinding: 'attested_workload' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'key_binding_exceeds_issuer', 403);
      // Even on the route that wants attested_workload and with the broker's issuer name.
      const admin = passport(w, { keyBinding: 'attested_workload', issuer: ISSUER });
      const p = signed(w, { pathAndQuery: '/v1/admin/users' }, { passport: admin, route: 'attested-admin' });
      await expectDecision(w, { view: view(p) }, 'key_binding_exceeds_issuer', 403);
    });
    it('denies a passport signed by a revoked kid as key_revoked (403)', async () => {
      const bundle = bundleWith(w, { revocations: { kids: [w.issuerKey.kid] } });
      await expectDecision(w, { view: view(signed(w)), bundle }, 'key_revoked', 403);
    });
    it('denies a passport bound to a revoked holder thumbprint as key_revoked (403)', async () => {
      const bundle = bundleWith(w, { revocations: { cnf_thumbprints: [jwkThumbprint(w.holder.publicJwk)] } });
      await expectDecision(w, { view: view(signed(w)), bundle }, 'key_revoked', 403);
    });
    it('denies a revoked jti as passport_revoked (403)', async () => {
      const jti = 'revoked-jti-1';
      const bundle = bundleWith(w, { revocations: { jtis: [jti] } });
      await expectDecision(w, { view: view(signed(w, {}, { passport: passport(w, { jti }) })), bundle }, 'passport_revoked', 403);
    });
    it('denies a revoked subject as passport_revoked (403)', async () => {
      const bundle = bundleWith(w, { revocations: { subjects: [SUBJECT] } });
      await expectDecision(w, { view: view(signed(w)), bundle }, 'passport_revoked', 403);
    });
  });

  describe('route policy', () => {
    it('denies a request no route matches as route_not_found (403)', async () => {
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/nowhere' })) }, 'route_not_found', 403);
    });
    it('denies an Envoy route id the bundle does not know as route_not_found (403)', async () => {
      await expectDecision(w, { view: view(signed(w), { routeId: 'no-such-route' }) }, 'route_not_found', 403);
    });
    it('denies a passport for another audience as audience_mismatch (403)', async () => {
      const pp = passport(w, { audience: 'https://other.example.test' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'audience_mismatch', 403);
    });
    it('denies a proof naming another route as route_mismatch (403)', async () => {
      await expectDecision(w, { view: view(signed(w, {}, { route: 'payments-read' })) }, 'route_mismatch', 403);
    });
    it('denies an Envoy route id other than the one the proof names as route_mismatch (403)', async () => {
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/small', body: '1234' }), { routeId: 'small-body' }) }, 'route_mismatch', 403);
    });
    it('denies an Envoy route id whose bundle route does not cover the request as route_request_mismatch (403)', async () => {
      // payments-read is GET /v1/payments/* only: a POST, a deeper path and another method are each refused.
      await expectDecision(w, { view: view(signed(w, {}, { route: 'payments-read' }), { routeId: 'payments-read' }) }, 'route_request_mismatch', 403);
      const deep = signed(w, { method: 'GET', pathAndQuery: '/v1/payments/42/refunds/7', headers: {}, body: '' }, { route: 'payments-read', bindHeaders: [] });
      await expectDecision(w, { view: view(deep, { routeId: 'payments-read' }) }, 'route_request_mismatch', 403);
      const one = signed(w, { method: 'GET', pathAndQuery: '/v1/payments/42', headers: {}, body: '' }, { route: 'payments-read', bindHeaders: [] });
      await expectDecision(w, { view: view(one, { routeId: 'payments-read' }) }, 'ok', 200);
    });
    it('denies an unbound method-override header as override_header_not_bound (403), and allows it when the proof binds it', async () => {
      const sneaky = signed(w);
      sneaky.headers.set('x-http-method-override', 'DELETE');
      await expectDecision(w, { view: view(sneaky) }, 'override_header_not_bound', 403);
      const bound = signed(w, { headers: { 'content-type': 'application/json', 'x-http-method-override': 'DELETE' } }, { bindHeaders: ['content-type', 'x-http-method-override'] });
      await expectDecision(w, { view: view(bound) }, 'ok', 200);
    });
    it('denies a proof kind the route does not list as proof_kind_not_allowed (403), checked before the route the proof names', async () => {
      // The same wire form under another name: the engine runs it through the same phases, and the
      // route (no proof_kinds: transcript-v1 only) refuses it by name, whatever else is wrong.
      const renamed: ProofKind = { ...TRANSCRIPT_V1, name: 'renamed-kind' };
      const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, proofKinds: [renamed] };
      await expectDecision(w, { view: view(signed(w, {}, { route: 'payments-read' })), options }, 'proof_kind_not_allowed', 403);
      await expectDecision(w, { view: view(signed(w)), options: { ...DEFAULT_ENGINE_OPTIONS, proofKinds: [TRANSCRIPT_V1] } }, 'ok', 200);
    });
    it('denies a kind that binds less than the route minimum as proof_binding_insufficient (403), and allows it where min_binding asks less', async () => {
      const partial: ProofKind = { ...TRANSCRIPT_V1, binds: (s) => ({ parts: new Set(['method', 'authority', 'path'] as const), headers: s.proof!.h }) };
      const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, proofKinds: [partial] };
      await expectDecision(w, { view: view(signed(w)), options }, 'proof_binding_insufficient', 403);
      const lenient = bundleWith(w, { routes: w.doc.routes.map((r) => (r.id === 'payments-create' ? { ...r, min_binding: ['method', 'authority', 'path'] } : r)) });
      await expectDecision(w, { view: view(signed(w)), options, bundle: lenient }, 'ok', 200);
    });
    it('denies a subject outside the allowed pattern as source_not_allowed (403)', async () => {
      const pp = passport(w, { subject: 'spiffe://example.test/ns/billing/sa/batch' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'source_not_allowed', 403);
    });
    it('denies a trusted issuer that the route does not list as source_not_allowed (403)', async () => {
      const pp = passport(w, { key: w.attestedKey, issuer: 'https://broker.example.test', keyBinding: 'attested_workload' });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'source_not_allowed', 403);
    });
    it('denies a key binding below the route minimum as key_binding_insufficient (403)', async () => {
      const pp = passport(w, { key: w.attestedKey, issuer: 'https://broker.example.test', keyBinding: 'hardware_local' });
      const p = signed(w, { pathAndQuery: '/v1/admin/users' }, { passport: pp, route: 'attested-admin' });
      await expectDecision(w, { view: view(p) }, 'key_binding_insufficient', 403);
    });
    it('denies a proof that leaves a route-required header unbound as header_not_bound (403)', async () => {
      await expectDecision(w, { view: view(signed(w, {}, { bindHeaders: [] })) }, 'header_not_bound', 403);
    });
    it('denies a peer principal other than the subject as peer_principal_mismatch (403), and allows the right one', async () => {
      const p = signed(w, { pathAndQuery: '/v1/peer' }, { route: 'peer-bound' });
      await expectDecision(w, { view: view(p, { sourcePrincipal: 'spiffe://example.test/ns/shop/sa/other' }) }, 'peer_principal_mismatch', 403);
      await expectDecision(w, { view: view(p) }, 'peer_principal_mismatch', 403);
      await expectDecision(w, { view: view(p, { sourcePrincipal: SUBJECT }) }, 'ok', 200);
    });
  });

  describe('transcript', () => {
    it('denies an ambiguous path as path_not_canonical (400)', async () => {
      await expectDecision(w, { view: view(signed(w), { path: '/v1/x/../payments' }) }, 'path_not_canonical', 400);
      await expectDecision(w, { view: view(signed(w), { path: '/v1%2Fpayments' }) }, 'path_not_canonical', 400);
    });
    it('denies an authority with userinfo as authority_invalid (400)', async () => {
      await expectDecision(w, { view: view(signed(w), { authority: 'user@api.example.test' }) }, 'authority_invalid', 400);
    });
    it('denies a proof binding the cookie header as header_not_bindable (401)', async () => {
      const p = signed(w, { method: 'GET', pathAndQuery: '/v1/payments/p1', body: undefined, headers: {} }, { route: 'payments-read', bindHeaders: [] });
      const proof = reproof(p.headers.get(HEADER.proof)!, (x) => void (x.h = ['cookie']));
      await expectDecision(w, { view: view(withHeaders(p, { [HEADER.proof]: proof, cookie: 'a=1' })) }, 'header_not_bindable', 401);
    });
    it('denies a proof binding a header the request lacks as bound_header_missing (401)', async () => {
      const p = signed(w, { headers: { 'content-type': 'application/json', 'x-request-id': 'r1' } }, { bindHeaders: ['content-type', 'x-request-id'] });
      await expectDecision(w, { view: view(withHeaders(p, { 'x-request-id': undefined })) }, 'bound_header_missing', 401);
    });
    it('denies a body-bound route without an observable body as body_unavailable (401)', async () => {
      await expectDecision(w, { view: view(signed(w), { body: { kind: 'unavailable' } }) }, 'body_unavailable', 401);
    });
    it('denies a partial body as body_partial (413)', async () => {
      await expectDecision(w, { view: view(signed(w), { body: { kind: 'bytes', bytes: Buffer.from('{"amount":100}'), partial: true } }) }, 'body_partial', 413);
    });
    it('denies a body above the route max_bytes as body_too_large (413)', async () => {
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/small', body: '12345' }, { route: 'small-body' })) }, 'body_too_large', 413);
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/small', body: '1234' }, { route: 'small-body' })) }, 'ok', 200);
    });
    it('denies a filter body-hash header that is not a SHA-256 digest as body_hash_invalid (401)', async () => {
      await expectDecision(w, { view: view(signed(w), { body: { kind: 'filter_header', value: 'not-a-digest', length: '14' } }) }, 'body_hash_invalid', 401);
      // 43 characters whose last one carries bits beyond 256: not the canonical encoding of any digest.
      await expectDecision(w, { view: view(signed(w), { body: { kind: 'filter_header', value: 'B'.repeat(43), length: '14' } }) }, 'body_hash_invalid', 401);
      await expectDecision(w, { view: view(signed(w), { body: { kind: 'filter_header', value: `${b64url(randomBytes(32))}=`, length: '14' } }) }, 'body_hash_invalid', 401);
    });
    it('allows the trusted filter body hash when it is the digest of the signed body', async () => {
      const { createHash } = await import('node:crypto');
      const value = createHash('sha256').update('{"amount":100}').digest('base64url');
      await expectDecision(w, { view: view(signed(w), { body: { kind: 'filter_header', value, length: '14' } }) }, 'ok', 200);
    });
    it('denies a forged proof signature over unchanged fields as transcript_mismatch (401)', async () => {
      const p = signed(w);
      const [a, b] = p.headers.get(HEADER.proof)!.split('.').slice(0, 2);
      await expectDecision(w, { view: view(withHeaders(p, { [HEADER.proof]: `${a!}.${b!}.${b64url(randomBytes(64))}` })) }, 'transcript_mismatch', 401);
    });
    it('denies a tampered body as transcript_mismatch when the proof carries no field digests (401)', async () => {
      const p = signed(w, {}, { fieldDigests: false });
      await expectDecision(w, { view: view(p, { body: { kind: 'bytes', bytes: Buffer.from('{"amount":1}'), partial: false } }) }, 'transcript_mismatch', 401);
    });
    it('denies the right transcript signed by a key other than the cnf key as transcript_mismatch (401)', async () => {
      const p = signed(w);
      const { transcript } = signRequest(p.request, { passport: p.headers.get(HEADER.passport)!, holder: w.holder, route: 'payments-create', bindHeaders: ['content-type'], nowMs: NOW_MS, nonce: 'CCCCCCCCCCCCCCCCCCCCCCCC' });
      const thief = generateSigningKey('EdDSA');
      const proof = encodeProof({ ts: NOW_S, nonce: 'CCCCCCCCCCCCCCCCCCCCCCCC', route: 'payments-create', h: ['content-type'], fd: fieldDigests(transcript) }, signBytes('EdDSA', thief.privateKey, transcript.bytes));
      await expectDecision(w, { view: view(withHeaders(p, { [HEADER.proof]: proof })) }, 'transcript_mismatch', 401);
    });

    const post = { method: 'POST', pathAndQuery: '/v2/things?a=1', headers: { 'content-type': 'application/json', 'x-tenant': 'acme' } };
    const anyRoute = { route: 'any-method', bindHeaders: ['content-type', 'x-tenant'] };
    const mismatches: [ReasonCode, (p: Presented) => RequestView][] = [
      ['method_mismatch', (p) => view(p, { method: 'PUT' })],
      ['authority_mismatch', (p) => view(p, { authority: 'api2.example.test' })],
      ['path_mismatch', (p) => view(p, { path: '/v2/other?a=1' })],
      ['query_mismatch', (p) => view(p, { path: '/v2/things?a=2' })],
      ['header_mismatch', (p) => view(withHeaders(p, { 'x-tenant': 'globex' }))],
      ['body_mismatch', (p) => view(p, { body: { kind: 'bytes', bytes: Buffer.from('{"amount":101}'), partial: false } })],
      ['nonce_mismatch', (p) => view(withHeaders(p, { [HEADER.proof]: reproof(p.headers.get(HEADER.proof)!, (x) => void (x.nonce = 'AAAAAAAAAAAAAAAAAAAAAAAA')) }))],
      ['proof_time_mismatch', (p) => view(withHeaders(p, { [HEADER.proof]: reproof(p.headers.get(HEADER.proof)!, (x) => void (x.ts = NOW_S - 5)) }))],
    ];
    for (const [code, tamper] of mismatches) {
      it(`names the changed field as ${code} (401)`, async () => {
        const p = signed(w, post, anyRoute);
        await expectDecision(w, { view: tamper(p) }, code, 401);
        await expectDecision(w, { view: view(p) }, 'ok', 200);
      });
    }
    it('names a proof made for another passport (jti swap) as passport_binding_mismatch (401)', async () => {
      const p = signed(w, post, anyRoute);
      await expectDecision(w, { view: view(withHeaders(p, { [HEADER.passport]: passport(w) })) }, 'passport_binding_mismatch', 401);
    });
    it('names a proof signed over another key-binding class as key_binding_mismatch (401)', async () => {
      const { createProof } = await import('../../core/src/proof.js');
      const { sha256b64url } = await import('../../core/src/encoding.js');
      const pp = passport(w);
      const p = signed(w, post, { ...anyRoute, passport: pp });
      const c = JSON.parse(fromB64url(pp.split('.')[1]!)!.toString('utf8')) as { jti: string };
      const { proof } = createProof(
        {
          method: 'POST',
          authority: 'api.example.test',
          pathAndQuery: '/v2/things?a=1',
          headers: [
            ['content-type', 'application/json'],
            ['x-tenant', 'acme'],
          ],
          bodySha256: sha256b64url('{"amount":100}'),
          nonce: 'BBBBBBBBBBBBBBBBBBBBBBBB',
          audience: AUDIENCE,
          routeId: 'any-method',
          jti: c.jti,
          passportSha256: sha256b64url(pp),
          ts: NOW_S,
          keyBinding: 'hardware_local',
          cnfJkt: jwkThumbprint(w.holder.publicJwk),
        },
        w.holder,
      );
      await expectDecision(w, { view: view(withHeaders(p, { [HEADER.proof]: proof })) }, 'key_binding_mismatch', 401);
    });
  });

  describe('freshness', () => {
    it('denies a proof older than the route window as proof_expired (401)', async () => {
      const pp = passport(w, { nowMs: NOW_MS - 200_000, lifetimeS: 300 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp, nowMs: NOW_MS - 200_000 })) }, 'proof_expired', 401);
    });
    it('denies a proof from beyond the clock tolerance in the future as proof_not_yet_valid (401)', async () => {
      await expectDecision(w, { view: view(signed(w, {}, { nowMs: NOW_MS + 45_000 })) }, 'proof_not_yet_valid', 401);
    });
    it('denies a realtime route with a bundle older than an hour as bundle_stale (503), while a bounded route accepts it', async () => {
      const bundle = bundleWith(w, { issued_at: NOW_S - 7200 });
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/rt' }, { route: 'realtime' })), bundle }, 'bundle_stale', 503);
      await expectDecision(w, { view: view(signed(w)), bundle }, 'ok', 200);
    });
  });

  describe('replay and internal', () => {
    it('denies the second presentation of a passport in the memory store as jti_replay (401)', async () => {
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      const pp = passport(w);
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })), store }, 'ok', 200);
      // A fresh proof (new nonce) over the same passport is still a replay of its jti.
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })), store }, 'jti_replay', 401);
    });
    it('denies when the memory store cannot answer as replay_store_unavailable (503)', async () => {
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      await store.close();
      await expectDecision(w, { view: view(signed(w)), store }, 'replay_store_unavailable', 503);
    });
    it('denies when the memory store is full of live jtis as replay_store_unavailable (503)', async () => {
      const store = new MemoryReplayStore({ maxEntries: 1, generationStartMs: -Infinity });
      await expectDecision(w, { view: view(signed(w)), store }, 'ok', 200);
      await expectDecision(w, { view: view(signed(w)), store }, 'replay_store_unavailable', 503);
    });
    it('denies a passport acceptable before the memory store began (a restart) as replay_state_lost (503), burning nothing', async () => {
      // The process started at NOW_MS: whatever an earlier process consumed is gone.
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: NOW_MS });
      const pp = passport(w);
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })), store }, 'replay_state_lost', 503);
      // Issued 29 s before the start but dated 1 s after it by a fast issuer clock: still acceptable before the start.
      const skewed = passport(w, { nowMs: NOW_MS + 1000 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: skewed })) }, 'ok', 200);
      await expectDecision(w, { view: view(signed(w, {}, { passport: skewed })), store }, 'replay_state_lost', 503);
      assert.equal(store.size, 0, 'a replay_state_lost deny records no jti');
      // First acceptable at the start itself (iat − tolerance = start): the store saw every moment it could be used.
      const fresh = passport(w, { nowMs: NOW_MS + 30_000 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: fresh })), store, nowMs: NOW_MS + 1 }, 'ok', 200);
      await expectDecision(w, { view: view(signed(w, {}, { passport: fresh })), store, nowMs: NOW_MS + 2 }, 'jti_replay', 401);
    });
    it('ends the replay_state_lost window when every passport acceptable before the start has expired', async () => {
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: NOW_MS });
      const options = { ...DEFAULT_ENGINE_OPTIONS, maxPassportLifetimeS: 600 };
      // The longest-lived passport that still falls under the guard: dated up to the tolerance past the start.
      const startS = NOW_S;
      const last = passport(w, { nowMs: (startS + 29) * 1000, lifetimeS: 600, jti: 'guarded-longest' });
      const lastAcceptedMs = (startS + 29 + 600 + 30) * 1000 - 1;
      const at = (ms: number) => view(signed(w, { pathAndQuery: '/v1/long' }, { passport: last, route: 'long-lived', nowMs: ms }));
      await expectDecision(w, { view: at(lastAcceptedMs), store, nowMs: lastAcceptedMs, options }, 'replay_state_lost', 503);
      await expectDecision(w, { view: at(lastAcceptedMs + 1), store, nowMs: lastAcceptedMs + 1, options }, 'passport_expired', 401);
      // The window, start + max lifetime + twice the tolerance, has passed: no passport can fall under the guard now.
      const after = NOW_MS + (600 + 2 * 30) * 1000;
      const now = passport(w, { nowMs: after, lifetimeS: 600 });
      await expectDecision(w, { view: view(signed(w, { pathAndQuery: '/v1/long' }, { passport: now, route: 'long-lived', nowMs: after })), store, nowMs: after, options }, 'ok', 200);
    });
    it('denies when a store throws synchronously from consume as replay_store_unavailable (503)', async () => {
      const throwing: ReplayStore = {
        kind: 'memory',
        consume: () => {
          throw new Error('boom');
        },
        ping: () => Promise.resolve(false),
        close: () => Promise.resolve(),
      };
      await expectDecision(w, { view: view(signed(w)), store: throwing }, 'replay_store_unavailable', 503);
    });
    it('denies overloaded (503) without asking the store when no time is left before the deadline, and the jti stays unused', async () => {
      const asked: string[] = [];
      const memory = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      const asyncStore: ReplayStore = {
        kind: 'redis',
        consume: (key, ttlMs, nowMs, fromMs) => {
          asked.push(key);
          return memory.consume(key, ttlMs, nowMs, fromMs);
        },
        ping: () => Promise.resolve(true),
        close: () => Promise.resolve(),
      };
      const presented = view(signed(w));
      await expectDecision(w, { view: presented, store: asyncStore, deadline: performance.now() - 1 }, 'overloaded', 503);
      assert.deepEqual(asked, []);
      await expectDecision(w, { view: presented, store: asyncStore, deadline: performance.now() + 10_000 }, 'ok', 200);
    });
    it('denies overloaded (503), not replay_store_unavailable, when the store\'s wait ran out because the event loop was held up', async () => {
      const busy: ReplayStore = {
        kind: 'redis',
        consume: () => Promise.resolve('overloaded'),
        ping: () => Promise.resolve(true),
        close: () => Promise.resolve(),
      };
      await expectDecision(w, { view: view(signed(w)), store: busy }, 'overloaded', 503);
    });
    it('denies without a loaded bundle as bundle_unavailable (503)', async () => {
      await expectDecision(w, { view: view(signed(w)), bundle: 'none' }, 'bundle_unavailable', 503);
    });
    it('denies when the bundle throws on the request path as internal_error (500), failing closed', async () => {
      const bundle: CompiledBundle = {
        ...w.bundle,
        keyByKid: () => {
          throw new Error('corrupt bundle');
        },
      };
      const d = await expectDecision(w, { view: view(signed(w)), bundle }, 'internal_error', 500);
      assert.equal(d.grpcStatus, 13);
    });
  });

  describe('a deny never consumes the jti', () => {
    // A denied request carrying a valid passport is followed by the genuine request on the same store.
    const junk: [string, ReasonCode, (p: Presented) => RequestView][] = [
      ['forged proof signature', 'transcript_mismatch', (p) => view(withHeaders(p, { [HEADER.proof]: reproof(p.headers.get(HEADER.proof)!, () => undefined).replace(/\.[^.]+$/, `.${b64url(randomBytes(64))}`) }))],
      ['other body', 'body_mismatch', (p) => view(p, { body: { kind: 'bytes', bytes: Buffer.from('x'), partial: false } })],
      ['unknown route', 'route_not_found', (p) => view(p, { routeId: 'nope' })],
      ['garbage proof', 'proof_malformed', (p) => view(withHeaders(p, { [HEADER.proof]: 'v1.junk' }))],
      ['stale proof claim', 'proof_time_mismatch', (p) => view(withHeaders(p, { [HEADER.proof]: reproof(p.headers.get(HEADER.proof)!, (x) => void (x.ts = NOW_S - 1)) }))],
    ];
    for (const [what, code, tamper] of junk) {
      it(`a junk request (${what}) with a valid passport is ${code} and the genuine request is still allowed`, async () => {
        const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
        const p = signed(w);
        await expectDecision(w, { view: tamper(p), store }, code, REASONS[code].status);
        assert.equal(store.size, 0);
        await expectDecision(w, { view: view(p), store }, 'ok', 200);
        assert.equal(store.size, 1);
      });
    }
  });

  describe('dry run', () => {
    it('a context mode override allows a failing request, reports the would-be reason and consumes nothing', async () => {
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      const p = signed(w);
      const d = await expectDecision(w, { view: view(p, { mode: 'dry_run', body: { kind: 'bytes', bytes: Buffer.from('x'), partial: false } }), store }, 'body_mismatch', 401, true);
      assert.equal(d.dryRun, true);
      assert.equal(d.audit.decision, 'deny');
      assert.equal(d.audit.enforced, false);
      // Even a fully valid dry-run request leaves the jti for the enforcing one.
      for (let i = 0; i < 3; i++) await expectDecision(w, { view: view(p, { mode: 'dry_run' }), store }, 'ok', 200, true);
      assert.equal(store.size, 0);
      await expectDecision(w, { view: view(p), store }, 'ok', 200);
      await expectDecision(w, { view: view(p), store }, 'jti_replay', 401);
    });
    it('a dry-run route allows a failing request with the would-be reason, and an enforce override on it enforces', async () => {
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      const p = signed(w, { pathAndQuery: '/v1/dry' }, { route: 'dry' });
      const d = await expectDecision(w, { view: view(p, { authority: 'evil.example.test' }), store }, 'authority_mismatch', 401, true);
      assert.equal(d.dryRun, true);
      await expectDecision(w, { view: view(p), store }, 'ok', 200, true);
      assert.equal(store.size, 0);
      await expectDecision(w, { view: view(p, { mode: 'enforce' }), store }, 'ok', 200);
      const again = await expectDecision(w, { view: view(p, { mode: 'enforce' }), store }, 'jti_replay', 401);
      assert.equal(again.dryRun, false);
    });
    it('dry-run from the engine options applies when neither context nor route says otherwise', async () => {
      const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, mode: 'dry_run' };
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      await expectDecision(w, { view: view(signed(w, {}, { route: 'payments-read' })), store, options }, 'route_mismatch', 403, true);
      assert.equal(store.size, 0);
    });
  });

  describe('decision order: a request failing two phases reports the earlier one', () => {
    const cases: [string, ReasonCode, () => Run][] = [
      ['parse before signature: malformed proof with a forged passport', 'proof_malformed', () => {
        const stranger = generateSigningKey('EdDSA');
        return { view: view(withHeaders(signed(w, {}, { passport: passport(w, { key: stranger }) }), { [HEADER.proof]: 'v1.x' })) };
      }],
      ['signature before claims: an expired passport with a bad signature', 'passport_signature_invalid', () => {
        const pp = passport(w, { nowMs: NOW_MS - 600_000 });
        return { view: view(signed(w, {}, { passport: pp.replace(/\.[^.]+$/, `.${b64url(randomBytes(64))}`) })) };
      }],
      ['claims before trust: an expired passport from the wrong issuer name', 'passport_expired', () => ({
        view: view(signed(w, {}, { passport: passport(w, { issuer: 'https://nope.example.test', nowMs: NOW_MS - 600_000 }) })),
      })],
      ['trust before route: a revoked subject on an unknown path', 'passport_revoked', () => ({
        view: view(signed(w, { pathAndQuery: '/v1/nowhere' })),
        bundle: bundleWith(w, { revocations: { subjects: [SUBJECT] } }),
      })],
      ['route before transcript: another audience and a tampered body', 'audience_mismatch', () => ({
        view: view(signed(w, {}, { passport: passport(w, { audience: 'https://other.example.test' }) }), { body: { kind: 'bytes', bytes: Buffer.from('x'), partial: false } }),
      })],
      ['transcript before freshness: a stale proof over a tampered body', 'body_mismatch', () => {
        const pp = passport(w, { nowMs: NOW_MS - 200_000, lifetimeS: 300 });
        return { view: view(signed(w, {}, { passport: pp, nowMs: NOW_MS - 200_000 }), { body: { kind: 'bytes', bytes: Buffer.from('x'), partial: false } }) };
      }],
    ];
    for (const [what, code, build] of cases) {
      it(`${what} → ${code}`, async () => {
        const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
        await expectDecision(w, { ...build(), store }, code, REASONS[code].status);
        assert.equal(store.size, 0);
      });
    }
    it('freshness before replay: a stale proof over an already consumed jti is proof_expired', async () => {
      const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
      const pp = passport(w, { nowMs: NOW_MS - 200_000, lifetimeS: 300 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })), store }, 'ok', 200);
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp, nowMs: NOW_MS - 200_000 })), store }, 'proof_expired', 401);
    });
  });

  describe('reusable passports (docs/transcript-v1.md §15)', () => {
    const reuse = (w: World, pp: string, o: { nowMs?: number; nonce?: string } = {}): RequestView =>
      view(signed(w, { pathAndQuery: '/v1/reuse' }, { passport: pp, route: 'reuse', ...o }));
    /** A memory store that also records what each consume asked for. */
    function recording(generationStartMs = -Infinity): { store: ReplayStore; calls: { key: string; ttlMs: number; nowMs: number; fromMs: number }[] } {
      const inner = new MemoryReplayStore({ maxEntries: 1000, generationStartMs });
      const calls: { key: string; ttlMs: number; nowMs: number; fromMs: number }[] = [];
      const store: ReplayStore = {
        kind: 'memory',
        generationStartMs,
        consume: async (key, ttlMs, nowMs, fromMs) => {
          calls.push({ key, ttlMs, nowMs, fromMs });
          return inner.consume(key, ttlMs, nowMs, fromMs);
        },
        ping: () => inner.ping(),
        close: () => inner.close(),
      };
      return { store, calls };
    }

    it('allows one reusable passport with a fresh proof per request, and denies a repeated proof as proof_replay (401)', async () => {
      const pp = passport(w, { reusable: true, lifetimeS: 600 });
      const store = new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity });
      const d = await expectDecision(w, { view: reuse(w, pp), store }, 'ok', 200);
      // The audit event says which kind, which mode and what the proof bound (docs/audit-event.md).
      assert.deepEqual([d.audit.credential_kind, d.audit.credential_mode, d.audit.bound], ['transcript-v1', 'reusable', 'method authority path query headers body']);
      await expectDecision(w, { view: reuse(w, pp), store }, 'ok', 200);
      const once = reuse(w, pp);
      await expectDecision(w, { view: once, store }, 'ok', 200);
      await expectDecision(w, { view: once, store }, 'proof_replay', 401);
      // The same nonce under another reusable passport is another proof.
      const nonce = 'bm9uY2Utc2hhcmVkLWJ5LXR3bw';
      await expectDecision(w, { view: reuse(w, pp, { nonce }), store }, 'ok', 200);
      await expectDecision(w, { view: reuse(w, passport(w, { reusable: true, lifetimeS: 600 }), { nonce }), store }, 'ok', 200);
    });
    it('denies a reusable passport on a route without reusable_passport as passport_reuse_not_allowed (403), before the lifetime', async () => {
      const pp = passport(w, { reusable: true, lifetimeS: 600 });
      await expectDecision(w, { view: view(signed(w, {}, { passport: pp })) }, 'passport_reuse_not_allowed', 403);
    });
    it('bounds a reusable passport by the route reusable_passport.max_lifetime_s, a per-request one by max_passport_lifetime_s', async () => {
      await expectDecision(w, { view: reuse(w, passport(w, { reusable: true, lifetimeS: 601 })) }, 'passport_lifetime_exceeded', 401);
      // 600 s is past the route's per-request limit (default 300 s) and allowed for a reusable passport only.
      await expectDecision(w, { view: reuse(w, passport(w, { lifetimeS: 600 })) }, 'passport_lifetime_exceeded', 401);
    });
    it('keeps a per-request passport on a reusable route exactly as before: its jti once', async () => {
      const store = new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity });
      const pp = passport(w);
      const d = await expectDecision(w, { view: reuse(w, pp), store }, 'ok', 200);
      assert.equal(d.audit.credential_mode, 'per_request');
      await expectDecision(w, { view: reuse(w, pp), store }, 'jti_replay', 401);
    });
    it('refuses a reusable claim other than true as passport_claims_invalid (401)', async () => {
      for (const value of [false, 'true', 1]) {
        const pp = issued(w.issuerKey, {}, claims(w, { reusable: value }));
        await expectDecision(w, { view: reuse(w, pp) }, 'passport_claims_invalid', 401);
      }
    });
    it('keeps each proof consumed for exactly as long as it could be accepted, scoped to its passport', async () => {
      const { store, calls } = recording();
      const pp = passport(w, { reusable: true, lifetimeS: 600, jti: 'reusable-jti-1', nowMs: NOW_MS - 10_000 });
      await expectDecision(w, { view: reuse(w, pp, { nowMs: NOW_MS - 5000, nonce: 'cHJvb2Ytbm9uY2UtMDAwMDE' }), store }, 'ok', 200);
      const tol = DEFAULT_ENGINE_OPTIONS.clockToleranceS;
      const longest = Math.max(...Object.values(DEFAULT_ENGINE_OPTIONS.freshness).map((f) => f.proofMaxAgeS));
      const ts = NOW_S - 5;
      assert.deepEqual(calls, [{ key: `${ISSUER}\nreusable-jti-1\ncHJvb2Ytbm9uY2UtMDAwMDE`, ttlMs: (ts + longest + 1) * 1000 - NOW_MS + 1000, nowMs: NOW_MS, fromMs: (ts - tol) * 1000 }]);
      // Near its passport's end the passport bounds the record instead.
      calls.length = 0;
      const ending = passport(w, { reusable: true, lifetimeS: 600, nowMs: NOW_MS - 590_000 });
      await expectDecision(w, { view: reuse(w, ending), store }, 'ok', 200);
      assert.equal(calls[0]!.ttlMs, (NOW_S - 590 + 600 + tol) * 1000 - NOW_MS + 1000);
      assert.equal(calls[0]!.fromMs, NOW_MS - tol * 1000);
    });
    it('survives a replay store generation for proofs made after it, and is replay_state_lost (503) for a proof that could be accepted before', async () => {
      // The passport was issued before the store's generation began; only its proofs count.
      const pp = passport(w, { reusable: true, lifetimeS: 600, nowMs: NOW_MS - 300_000 });
      const store = new MemoryReplayStore({ maxEntries: 1000, generationStartMs: NOW_MS - 60_000 });
      await expectDecision(w, { view: reuse(w, pp), store }, 'ok', 200);
      // Made 60 s ago, so acceptable from 90 s ago (the clock tolerance): before the generation.
      await expectDecision(w, { view: reuse(w, pp, { nowMs: NOW_MS - 60_000 }), store }, 'replay_state_lost', 503);
    });
  });

  describe('a Redis replay store that could evict (real redis-server, maxmemory-policy allkeys-lru)', function () {
    let server: RedisServer | undefined;
    before(async function () {
      skippedWithoutRedis.add('replay_store_misconfigured');
      server = await RedisServer.create(redisBinaryOrSkip(this), { config: { 'maxmemory-policy': 'allkeys-lru' } });
      skippedWithoutRedis.delete('replay_store_misconfigured');
    });
    after(async () => {
      await server?.dispose();
    });
    it('denies as replay_store_misconfigured (503) and writes no jti', async () => {
      const store = createReplayStore({ store: 'redis', redis: { url: server!.url, connect_timeout_ms: 500, command_timeout_ms: 1000 } }) as RedisReplayStore;
      try {
        assert.equal(await store.waitUntilReady(1500), false, 'an evicting Redis never makes the store ready');
        await expectDecision(w, { view: view(signed(w)), store }, 'replay_store_misconfigured', 503);
        assert.deepEqual(await server!.command(['KEYS', `${store.keyPrefix}*`]), [store.generationKey]);
      } finally {
        await store.close();
      }
    });
  });

  // DPoP (RFC 9449) with proofs from the third-party dpop client; its codes count below.
  describeDpopCases((reason) => covered.add(reason));

  describe('registry coverage', () => {
    it('produced every code in REASON_CODES, and nothing outside it', () => {
      // Only where redis-server is missing and not required (REQUIRE_REDIS unset) may a Redis-only code go untested.
      assert.deepEqual([...covered].sort(), REASON_CODES.filter((c) => !skippedWithoutRedis.has(c)).sort());
    });
  });
});
