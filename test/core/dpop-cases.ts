/**
 * DPoP (RFC 9449) through verifyRequest: every check of RFC 9449 §4.3 made to fail with its own
 * reason code, with proofs made by the third-party `dpop` client and access tokens signed by `jose`
 * (test/support/dpop-client.ts). Registered from test/core/engine.test.ts, whose registry-coverage
 * test then counts these codes too. Real keys, real signatures, the memory replay store, and the
 * real clock (the library dates its proofs with Date.now()).
 */
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import type { BundleDocument, Revocations } from '../../core/src/bundle/types.js';
import { buildBundle } from '../../core/src/bundle/edit.js';
import { cachedHolderKey } from '../../core/src/engine/holder-keys.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { RedisReplayStore, createReplayStore } from '../../core/src/replay/index.js';
import type { ReplayStore } from '../../core/src/replay/types.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';
import type { Decision, RequestView } from '../../core/src/types.js';
import { accessToken, claimsOf, dpopClient, privateJwk, proof, resign, type DpopClient } from '../support/dpop-client.js';
import { AUDIENCE, ISSUER, SUBJECT, route, trustKey } from '../support/world.js';

const HOST = 'api.example.test';
const PATH = '/v1/orders/42';
const URI = `https://${HOST}${PATH}`;

interface Presented {
  readonly method?: string;
  readonly path?: string;
  readonly authorization?: string;
  readonly dpop?: string;
  readonly extra?: Record<string, string>;
  readonly repeated?: readonly string[];
}

export function describeDpopCases(record: (reason: ReasonCode) => void): void {
  describe('DPoP (RFC 9449) as a proof kind, with proofs from the dpop client', () => {
    let issuerKey: SigningKey;
    let bundle: CompiledBundle;
    let doc: BundleDocument;
    let es: DpopClient;
    let ed: DpopClient;
    let store: ReplayStore & { readonly size?: number };

    before(async () => {
      issuerKey = generateSigningKey('EdDSA');
      const nowS = Math.floor(Date.now() / 1000);
      const built = buildBundle({
        issuedAt: nowS - 60,
        expiresAt: nowS + 86_400,
        keys: [trustKey(issuerKey)],
        routes: [
          // DPoP binds method, authority and path: a route that asks no more accepts it.
          route('orders-dpop', { match: { methods: ['GET', 'POST'], path: '/v1/orders/*' }, proof_kinds: ['dpop'], min_binding: ['method', 'authority', 'path'], max_passport_lifetime_s: 600 }),
          // Accepts DPoP by name, but its minimum binding (absent: every part) is more than DPoP binds.
          route('orders-strict', { match: { methods: ['GET'], path: '/v1/strict' }, proof_kinds: ['transcript-v1', 'dpop'] }),
          route('plain', { match: { methods: ['GET'], path: '/v1/plain' } }),
        ],
      });
      if (!built.ok) throw new Error(JSON.stringify(built));
      doc = built.bundle;
      bundle = compileBundle(doc);
      es = await dpopClient('ES256');
      ed = await dpopClient('Ed25519');
    });

    beforeEach(() => {
      store = new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity });
    });

    const token = (c: DpopClient, over: Partial<Parameters<typeof accessToken>[0]> = {}): Promise<string> =>
      accessToken({ issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, jkt: c.jkt, ...over });

    function view(p: Presented): RequestView {
      const headers = new Map<string, string>(Object.entries(p.extra ?? {}));
      if (p.authorization !== undefined) headers.set('authorization', p.authorization);
      if (p.dpop !== undefined) headers.set('dpop', p.dpop);
      return {
        method: p.method ?? 'GET',
        scheme: 'https',
        authority: HOST,
        path: p.path ?? PATH,
        headers,
        body: { kind: 'empty' },
        ...(p.repeated ? { repeatedHeaders: new Set(p.repeated) } : {}),
      };
    }

    async function expectReason(p: Presented, reason: ReasonCode, o: { nowMs?: number; store?: ReplayStore; bundle?: CompiledBundle } = {}): Promise<Decision> {
      const d = await verifyRequest({ view: view(p), bundle: o.bundle ?? bundle, store: o.store ?? store, nowMs: o.nowMs ?? Date.now() });
      assert.equal(d.reason, reason, `expected ${reason}, got ${d.reason}`);
      assert.equal(d.allow, reason === 'ok');
      assert.equal(d.httpStatus, REASONS[reason].status);
      assert.equal(d.audit.reason_code, reason);
      record(reason);
      return d;
    }

    /** A good request: a token bound to `c`, a proof for GET URI over that token. */
    async function good(c: DpopClient = es, method = 'GET', uri = URI): Promise<{ token: string; dpop: string; p: Presented }> {
      const t = await token(c);
      const dpop = await proof(c, method, uri, t);
      return { token: t, dpop, p: { method, authorization: `DPoP ${t}`, dpop } };
    }

    describe('allowed', () => {
      it('allows an ES256 proof and an Ed25519 proof (alg "Ed25519", RFC 9864) on a route that accepts DPoP, with the token as the identity', async () => {
        for (const c of [es, ed]) {
          const { token: t, p } = await good(c);
          const d = await expectReason(p, 'ok');
          assert.equal(d.identity?.subject, SUBJECT);
          assert.equal(d.identity?.issuer, ISSUER);
          assert.equal(d.identity?.jti, claimsOf(t).jti);
          assert.equal(d.identity?.keyBinding, 'software', 'DPoP never claims more than software');
          assert.equal(d.routeId, 'orders-dpop');
          // The audit event says which kind, what it bound, and the proof jti it consumed.
          assert.equal(d.audit.credential_kind, 'dpop');
          assert.equal(d.audit.credential_mode, null);
          assert.equal(d.audit.bound, 'method authority path');
          assert.equal(d.audit.dpop_jti, claimsOf(p.dpop!).jti);
          assert.equal(d.audit.jti, claimsOf(t).jti);
          assert.equal(JSON.stringify(d.audit).includes(t), false, 'no token in the audit event');
        }
      });

      it('compares htu after RFC 3986 normalisation, ignoring its query and fragment, and binds no query of the request', async () => {
        const t = await token(es);
        for (const htu of [
          'HTTPS://API.Example.TEST:443/v1/orders/42',
          'https://api.example.test/v1/orders/%34%32?x=1#frag',
          'https://api.example.test/v1/x/../orders/./42',
          'http://api.example.test:80/v1/orders/42',
        ]) {
          await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', htu, t), path: `${PATH}?page=2` }, 'ok');
        }
      });

      it('takes a jwk that names its own algorithm (EdDSA or Ed25519 for Ed25519, ES256 for P-256) and a kid', async () => {
        for (const [c, alg] of [[ed, 'Ed25519'], [ed, 'EdDSA'], [es, 'ES256']] as const) {
          const { p } = await good(c);
          await expectReason({ ...p, dpop: resign(c, p.dpop!, (h) => (h.jwk = { ...(h.jwk as object), alg, kid: 'client-key-1' })) }, 'ok');
        }
        const { p } = await good(es);
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (h) => (h.jwk = { ...(h.jwk as object), alg: 'EdDSA' })) }, 'dpop_jwk_invalid');
      });

      it('takes the scheme name case-insensitively and the proof with surrounding spaces', async () => {
        const { token: t, dpop } = await good();
        await expectReason({ authorization: `dpop   ${t}`, dpop: ` ${dpop}\t` }, 'ok');
      });
    });

    describe('RFC 9449 §4.3, one code per check', () => {
      it('check 1: a second DPoP header is dpop_proof_duplicated (comma-joined by Envoy, or seen twice)', async () => {
        const { p, dpop } = await good();
        await expectReason({ ...p, dpop: `${dpop},${dpop}` }, 'dpop_proof_duplicated');
        await expectReason({ ...p, repeated: ['dpop'] }, 'dpop_proof_duplicated');
      });

      it('check 2: a DPoP header that is not a JWT is dpop_proof_malformed', async () => {
        const { p } = await good();
        await expectReason({ ...p, dpop: 'not-a-jwt' }, 'dpop_proof_malformed');
        await expectReason({ ...p, dpop: `${p.dpop!.split('.').slice(0, 2).join('.')}.` }, 'dpop_proof_malformed');
      });

      it('check 3: a proof without a required claim (htm, htu, iat, jti) is dpop_proof_malformed', async () => {
        const { p } = await good();
        for (const claim of ['htm', 'htu', 'iat', 'jti']) {
          await expectReason({ ...p, dpop: resign(es, p.dpop!, (_h, c) => delete c[claim]) }, 'dpop_proof_malformed');
        }
      });

      it('check 4: typ other than dpop+jwt is dpop_proof_typ_invalid', async () => {
        const { p } = await good();
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (h) => (h.typ = 'JWT')) }, 'dpop_proof_typ_invalid');
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (h) => delete h.typ) }, 'dpop_proof_typ_invalid');
      });

      it('check 5: alg none and a symmetric alg are dpop_proof_alg_not_allowed', async () => {
        const { p } = await good();
        const [h, c] = p.dpop!.split('.');
        const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>;
        const none = `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${c}.`;
        await expectReason({ ...p, dpop: none }, 'dpop_proof_alg_not_allowed');
        const hsInput = `${Buffer.from(JSON.stringify({ ...header, alg: 'HS256' })).toString('base64url')}.${c}`;
        const hs = `${hsInput}.${createHmac('sha256', 'k').update(hsInput).digest('base64url')}`;
        await expectReason({ ...p, dpop: hs }, 'dpop_proof_alg_not_allowed');
      });

      it('check 6: a signature that does not verify with the jwk is dpop_proof_signature_invalid (a claim changed after signing; an alg naming another key type)', async () => {
        const { p } = await good();
        const [h, , s] = p.dpop!.split('.');
        const changed = Buffer.from(JSON.stringify({ ...claimsOf(p.dpop!), jti: 'another' })).toString('base64url');
        await expectReason({ ...p, dpop: `${h}.${changed}.${s}` }, 'dpop_proof_signature_invalid');
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (hd) => (hd.alg = 'EdDSA')) }, 'dpop_proof_signature_invalid');
      });

      it('check 7: a jwk with private members is dpop_jwk_private; a jwk that is no usable public key is dpop_jwk_invalid', async () => {
        const { p } = await good();
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (h) => (h.jwk = privateJwk(es))) }, 'dpop_jwk_private');
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (h) => delete h.jwk) }, 'dpop_jwk_invalid');
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (h) => (h.jwk = { ...(h.jwk as object), x: 'AAAA' })) }, 'dpop_jwk_invalid');
      });

      it('check 8: htm other than the method is dpop_htm_mismatch (case-sensitive)', async () => {
        const t = await token(es);
        await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'POST', URI, t) }, 'dpop_htm_mismatch');
        await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'get', URI, t) }, 'dpop_htm_mismatch');
      });

      it('check 9: htu for another path, host or port, or not an http(s) URI, is dpop_htu_mismatch', async () => {
        const t = await token(es);
        for (const htu of ['https://api.example.test/v1/orders/43', 'https://other.example.test/v1/orders/42', 'https://api.example.test:8443/v1/orders/42', 'urn:example:orders', 'ftp://api.example.test/v1/orders/42', '/v1/orders/42']) {
          await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', htu, t) }, 'dpop_htu_mismatch');
        }
      });

      it('check 11: an iat older than the route window is proof_expired; one beyond the clock tolerance ahead is proof_not_yet_valid', async () => {
        const { p } = await good();
        const now = Math.floor(Date.now() / 1000);
        // The route's freshness class is bounded: 120 s; the tolerance 30 s.
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (_h, c) => (c.iat = now - 125)) }, 'proof_expired');
        await expectReason({ ...p, dpop: resign(es, p.dpop!, (_h, c) => (c.iat = now + 35)) }, 'proof_not_yet_valid');
      });

      it('check 12: ath over another token, or none, is dpop_ath_mismatch; a proof key other than cnf.jkt is dpop_key_mismatch', async () => {
        const t = await token(es);
        const other = await token(es);
        await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', URI, other) }, 'dpop_ath_mismatch');
        await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', URI) }, 'dpop_ath_mismatch');
        const boundToEd = await token(ed);
        await expectReason({ authorization: `DPoP ${boundToEd}`, dpop: await proof(es, 'GET', URI, boundToEd) }, 'dpop_key_mismatch');
      });

      it('jti: the same proof twice is dpop_jti_replay; a deny earlier in the phases burns nothing', async () => {
        const { p } = await good();
        // An override header the proof cannot bind denies in the route phase, before the consume.
        await expectReason({ ...p, extra: { 'x-http-method-override': 'DELETE' } }, 'override_header_not_bound');
        await expectReason(p, 'ok');
        await expectReason(p, 'dpop_jti_replay');
        assert.equal(store.size, 1);
      });
    });

    describe('two verifiers on one Redis (real redis-server)', function () {
      let server: RedisServer | undefined;
      const stores: RedisReplayStore[] = [];
      before(async function () {
        server = await RedisServer.create(redisBinaryOrSkip(this));
        // A Redis that has remembered every consume since long before these proofs were made.
        await seedGeneration(server);
      });
      after(async () => {
        await Promise.all(stores.splice(0).map((s) => s.close()));
        await server?.dispose();
      });
      const redisStore = async (): Promise<RedisReplayStore> => {
        const s = createReplayStore({ store: 'redis', redis: { url: server!.url, connect_timeout_ms: 500, command_timeout_ms: 1000 } }) as RedisReplayStore;
        stores.push(s);
        assert.equal(await s.waitUntilReady(5000), true);
        return s;
      };

      it('accept one proof once between them, also when both are asked at the same moment', async () => {
        const [a, b] = [await redisStore(), await redisStore()];
        const { p } = await good();
        await expectReason(p, 'ok', { store: a });
        await expectReason(p, 'dpop_jti_replay', { store: b });
        const { p: q } = await good();
        const both = await Promise.all([a, b].map((st) => verifyRequest({ view: view(q), bundle, store: st, nowMs: Date.now() })));
        assert.deepEqual(both.map((d) => d.reason).sort(), ['dpop_jti_replay', 'ok']);
      });
    });

    describe('the proof key cache', () => {
      it('keeps a proof key only once an access token from a trusted issuer bound it', async () => {
        const fresh = await dpopClient('Ed25519');
        const jwk = (): unknown => JSON.parse(Buffer.from(p.dpop!.split('.')[0]!, 'base64url').toString('utf8')).jwk;
        const forged = await accessToken({ issuerKey: generateSigningKey('EdDSA'), issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, jkt: fresh.jkt, kid: issuerKey.kid });
        let p: Presented = { authorization: `DPoP ${forged}`, dpop: await proof(fresh, 'GET', URI, forged) };
        await expectReason(p, 'access_token_signature_invalid');
        assert.equal(cachedHolderKey(jwk()), undefined, 'a key no trusted token binds is not cached');
        ({ p } = await good(fresh));
        await expectReason(p, 'ok');
        assert.equal(cachedHolderKey(jwk())?.jkt, fresh.jkt);
        // And the next proof with it, through the cache, is checked as fully.
        await expectReason({ ...p, dpop: await proof(fresh, 'GET', URI.replace('42', '43'), (p.authorization ?? '').slice(5)) }, 'dpop_htu_mismatch');
        await expectReason({ ...p, dpop: await proof(fresh, 'GET', URI, (p.authorization ?? '').slice(5)) }, 'ok');
      });
    });

    describe('hostile input', () => {
      it('never allows and never fails internally on random headers, or on a good token or proof with one character changed', async () => {
        const { token: t, dpop } = await good();
        const flip = (text: string, at: number): string => {
          const i = at % text.length;
          return `${text.slice(0, i)}${text[i] === 'A' ? 'B' : 'A'}${text.slice(i + 1)}`;
        };
        await fc.assert(
          fc.asyncProperty(fc.string(), fc.string(), fc.nat(), fc.constantFrom('random', 'proof', 'token'), async (a, b, at, which) => {
            const p: Presented =
              which === 'random' ? { authorization: a, dpop: b } : which === 'proof' ? { authorization: `DPoP ${t}`, dpop: flip(dpop, at) } : { authorization: `DPoP ${flip(t, at)}`, dpop };
            const d = await verifyRequest({ view: view(p), bundle, store, nowMs: Date.now() });
            return d.reason !== 'ok' && d.reason !== 'internal_error' && !d.allow;
          }),
          { numRuns: 300 },
        );
        // Nothing was consumed: the good pair is still accepted, once.
        await expectReason({ authorization: `DPoP ${t}`, dpop }, 'ok');
      });
    });

    describe('the DPoP headers', () => {
      it('a token without a proof is dpop_proof_missing; a proof without a DPoP token (none, or Bearer) is access_token_missing', async () => {
        const { token: t, dpop } = await good();
        await expectReason({ authorization: `DPoP ${t}` }, 'dpop_proof_missing');
        await expectReason({ dpop }, 'access_token_missing');
        await expectReason({ authorization: `Bearer ${t}`, dpop }, 'access_token_missing');
      });
    });

    describe('the access token', () => {
      it('is found by kid among the bundle keys and verified with it', async () => {
        const dpopFor = (t: string): Promise<string> => proof(es, 'GET', URI, t);
        const unknown = await token(es, { kid: 'not-in-the-bundle' });
        await expectReason({ authorization: `DPoP ${unknown}`, dpop: await dpopFor(unknown) }, 'access_token_kid_unknown');
        const forged = await accessToken({ issuerKey: generateSigningKey('EdDSA'), issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, jkt: es.jkt, kid: issuerKey.kid });
        await expectReason({ authorization: `DPoP ${forged}`, dpop: await dpopFor(forged) }, 'access_token_signature_invalid');
      });

      it('takes Ed25519 (RFC 9864) as the alg of an Ed25519 issuer key, and refuses an alg naming another key type', async () => {
        const claims = { cnf: { jkt: es.jkt } };
        const signed = (alg: string): Promise<string> =>
          new SignJWT(claims).setProtectedHeader({ alg, typ: 'at+jwt', kid: issuerKey.kid }).setIssuer(ISSUER).setSubject(SUBJECT).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').setJti(`j-${alg}`).sign(issuerKey.privateKey);
        const ed25519 = await signed('Ed25519');
        await expectReason({ authorization: `DPoP ${ed25519}`, dpop: await proof(es, 'GET', URI, ed25519) }, 'ok');
        // The header says ES256 over an Ed25519 key's signature: never a reason to try another verifier.
        const [, body, sig] = ed25519.split('.');
        const lying = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: issuerKey.kid })).toString('base64url')}.${body}.${sig}`;
        await expectReason({ authorization: `DPoP ${lying}`, dpop: await proof(es, 'GET', URI, lying) }, 'access_token_signature_invalid');
      });

      it('has its own header rules: a JWS, typ at+jwt, an asymmetric alg', async () => {
        await expectReason({ authorization: 'DPoP abc.def', dpop: await proof(es, 'GET', URI, 'abc.def') }, 'access_token_malformed');
        const idToken = await token(es, { typ: 'JWT' });
        await expectReason({ authorization: `DPoP ${idToken}`, dpop: await proof(es, 'GET', URI, idToken) }, 'access_token_typ_invalid');
        const hs = await new SignJWT({ cnf: { jkt: es.jkt } }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: issuerKey.kid }).setIssuer(ISSUER).setSubject(SUBJECT).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').setJti('j1').sign(new Uint8Array(32));
        await expectReason({ authorization: `DPoP ${hs}`, dpop: await proof(es, 'GET', URI, hs) }, 'access_token_alg_not_allowed');
      });

      it('must be bound (cnf.jkt) and valid now', async () => {
        const unbound = await token(es, { jkt: undefined });
        await expectReason({ authorization: `DPoP ${unbound}`, dpop: await proof(es, 'GET', URI, unbound) }, 'access_token_claims_invalid');
        const now = Math.floor(Date.now() / 1000);
        const expired = await token(es, { iat: now - 1000 });
        await expectReason({ authorization: `DPoP ${expired}`, dpop: await proof(es, 'GET', URI, expired) }, 'access_token_expired');
        const future = await token(es, { iat: now + 120 });
        await expectReason({ authorization: `DPoP ${future}`, dpop: await proof(es, 'GET', URI, future) }, 'access_token_not_yet_valid');
      });
    });

    describe('the engine-owned phases, with the access token in the passport\'s place', () => {
      const revoked = (r: Partial<Revocations>): CompiledBundle => compileBundle({ ...doc, revocations: { ...doc.revocations, ...r } });

      it('trust: an iss other than the key\'s issuer, a trust_domain other than the key\'s; revoked key, proof key, jti, subject', async () => {
        const otherIss = await token(es, { issuer: 'https://other-issuer.example.test' });
        await expectReason({ authorization: `DPoP ${otherIss}`, dpop: await proof(es, 'GET', URI, otherIss) }, 'issuer_untrusted');
        const otherTd = await token(es, { extra: { trust_domain: 'other.test' } });
        await expectReason({ authorization: `DPoP ${otherTd}`, dpop: await proof(es, 'GET', URI, otherTd) }, 'trust_domain_mismatch');
        const { token: t, p } = await good();
        await expectReason(p, 'key_revoked', { bundle: revoked({ kids: [issuerKey.kid] }) });
        await expectReason(p, 'key_revoked', { bundle: revoked({ cnf_thumbprints: [es.jkt] }) });
        await expectReason(p, 'passport_revoked', { bundle: revoked({ jtis: [claimsOf(t).jti as string] }) });
        await expectReason(p, 'passport_revoked', { bundle: revoked({ subjects: [SUBJECT] }) });
        assert.equal(store.size, 0, 'nothing consumed');
        await expectReason(p, 'ok');
      });

      it('route: the token audience, the allowed sources, the lifetime the route allows', async () => {
        const otherAud = await token(es, { audience: 'https://elsewhere.example.test' });
        await expectReason({ authorization: `DPoP ${otherAud}`, dpop: await proof(es, 'GET', URI, otherAud) }, 'audience_mismatch');
        const stranger = await token(es, { subject: 'spiffe://example.test/ns/other/sa/x' });
        await expectReason({ authorization: `DPoP ${stranger}`, dpop: await proof(es, 'GET', URI, stranger) }, 'source_not_allowed');
        const long = await token(es, { lifetimeS: 900 });
        await expectReason({ authorization: `DPoP ${long}`, dpop: await proof(es, 'GET', URI, long) }, 'passport_lifetime_exceeded');
      });
    });

    describe('route policy', () => {
      it('a route that does not list dpop is proof_kind_not_allowed; one whose min_binding DPoP does not meet is proof_binding_insufficient', async () => {
        const t = await token(es);
        await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', `https://${HOST}/v1/plain`, t), path: '/v1/plain' }, 'proof_kind_not_allowed');
        await expectReason({ authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', `https://${HOST}/v1/strict`, t), path: '/v1/strict' }, 'proof_binding_insufficient');
        assert.equal(store.size, 0, 'no jti consumed');
      });
    });
  });
}
