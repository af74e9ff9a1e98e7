/**
 * Issue 11 §1 through the real server: Envoy-shaped CheckRequests over gRPC whose passports (signed
 * by the trusted issuer) carry hostile `cnf` keys, a bundle that revokes a holder key by thumbprint,
 * and bundle reloads with hostile trust keys. Every hostile passport reuses the jti of one genuine
 * passport, which must still be allowed at the end: no hostile attempt burns it.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildBundle, signBundle } from '../../core/src/bundle/index.js';
import { b64url, sha256b64url } from '../../core/src/encoding.js';
import { signCompact } from '../../core/src/jws.js';
import { generateSigningKey, jwkThumbprint, signBytes, type SigningKey } from '../../core/src/keys.js';
import { issuePassport, PASSPORT_TYP } from '../../core/src/passport.js';
import { encodeProof, newNonce } from '../../core/src/proof.js';
import { buildTranscript } from '../../core/src/transcript.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { sleep, waitFor } from '../support/clock.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck, type SignedCheck } from '../support/signed-check.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';
import type { OfficialCheckResponse as Response } from '../support/envoy-api.js';
import { be32, edEncode, edNonCanonical, edNotOnCurve, otherSpellings, smallOrderEncodings, trailingBitSpellings } from '../support/hostile-keys.js';
import { trustKey } from '../support/world.js';

/** Thumbprint text as a lenient verifier would have computed it for any spelling. */
const lenientJkt = (jwk: Record<string, unknown>): string =>
  sha256b64url(jwk.kty === 'EC' ? `{"crv":"P-256","kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}` : `{"crv":"Ed25519","kty":"OKP","x":${JSON.stringify(jwk.x)}}`);

describe('authz server over gRPC: key material (docs/transcript-v1.md §4.1)', function () {
  this.timeout(60_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;
  const revokedHolder = generateSigningKey('EdDSA');
  let serial = 1;

  const bundleDoc = (extraKeys: ReturnType<typeof trustKey>[] = []) => {
    const nowS = Math.floor(Date.now() / 1000);
    const built = buildBundle({
      issuedAt: nowS - 60,
      expiresAt: nowS + 86_400,
      serial: serial++,
      keys: [trustKey(trust.issuerKey), trustKey(trust.attestedKey, { issuer: 'https://broker.example.test', max_key_binding: 'attested_workload' }), ...extraKeys],
      routes: defaultRoutes(),
      revocations: { cnf_thumbprints: [jwkThumbprint(revokedHolder.publicJwk)] },
    });
    if (!built.ok) throw new Error(JSON.stringify(built));
    return signBundle(built.bundle, trust.bundleSigner);
  };

  before(async () => {
    trust = makeTrust();
    trust.writeBundle(bundleDoc());
    srv = await startInProcess(trust);
    client = makeCheckClient(srv.grpcAddress);
  });
  after(async () => {
    client?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  const send = (s: SignedCheck): Promise<Response> => client.check(checkBytes(s));

  /**
   * A request whose passport (signed by the trusted issuer) carries `cnf` as given, with a proof
   * the attacker can make: signed by `holder` over the transcript a lenient verifier would rebuild,
   * or the universal signature of the identity point (R = identity, S = 0) when `holder` is null.
   */
  function hostile(jti: string, cnf: unknown, holder: SigningKey | null): SignedCheck {
    const nowMs = Date.now();
    const iat = Math.floor(nowMs / 1000);
    const claims = { iss: ISSUER, sub: SUBJECT, aud: AUDIENCE, iat, exp: iat + 60, jti, trust_domain: TRUST_DOMAIN, cnf, key_binding: 'software' };
    const passport = signCompact({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: trust.issuerKey.kid }, claims, 'EdDSA', trust.issuerKey.privateKey);
    const body = '{"amount":100}';
    const jwk = (cnf as { jwk?: Record<string, unknown> }).jwk ?? {};
    const nonce = newNonce();
    const t = buildTranscript({
      method: 'POST',
      authority: 'api.example.test',
      pathAndQuery: '/v1/payments',
      headers: [['content-type', 'application/json']],
      bodySha256: sha256b64url(body),
      nonce,
      audience: AUDIENCE,
      routeId: 'payments-create',
      jti,
      passportSha256: sha256b64url(passport),
      ts: iat,
      keyBinding: 'software',
      cnfJkt: typeof jwk.x === 'string' ? lenientJkt(jwk) : 'none',
    });
    if (!t.ok) throw new Error(t.reason);
    const signature = holder === null ? Buffer.concat([edEncode(1n, 0), Buffer.alloc(32)]) : signBytes(holder.alg, holder.privateKey, t.value.bytes);
    const proof = encodeProof({ ts: iat, nonce, route: 'payments-create', h: ['content-type'] }, signature);
    const headers = new Map([
      ['content-type', 'application/json'],
      ['x-trustplane-passport', passport],
      ['x-trustplane-proof', proof],
    ]);
    return { passport, proof, method: 'POST', authority: 'api.example.test', path: '/v1/payments', body, headers };
  }

  it('refuses every hostile cnf with passport_cnf_invalid, and the genuine passport with the same jti is allowed after', async () => {
    const jti = `keys-${b64url(Buffer.from(String(Math.random())))}`;
    const genuine = signCheck(trust, { passport: { jti } });
    const h = trust.holder;
    const bare = { kty: 'OKP', crv: 'Ed25519', x: h.publicJwk.x };
    const ec = generateSigningKey('ES256');
    const cases: Array<[string, unknown, SigningKey | null]> = [
      ...trailingBitSpellings(bare.x).map((x): [string, unknown, SigningKey] => [`trailing bits ${x.slice(-1)}`, { jwk: { ...bare, x } }, h]),
      ...otherSpellings(bare.x).map((x): [string, unknown, SigningKey] => [`spelling ${JSON.stringify(x.slice(-3))}`, { jwk: { ...bare, x } }, h]),
      ...smallOrderEncodings().map((s): [string, unknown, null] => [`small order: ${s.name}`, { jwk: { kty: 'OKP', crv: 'Ed25519', x: s.x } }, null]),
      ...edNonCanonical().slice(0, 3).map((n): [string, unknown, null] => [`non-canonical ${n.name}`, { jwk: { kty: 'OKP', crv: 'Ed25519', x: n.x } }, null]),
      ['no point', { jwk: { kty: 'OKP', crv: 'Ed25519', x: edNotOnCurve().x } }, null],
      ['P-256 off the curve', { jwk: { kty: 'EC', crv: 'P-256', x: ec.publicJwk.x, y: be32(7n) } }, ec],
      ['P-256 (0, 0)', { jwk: { kty: 'EC', crv: 'P-256', x: be32(0n), y: be32(0n) } }, ec],
      ['private member d', { jwk: { ...bare, d: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } }, h],
      ['kid in cnf.jwk', { jwk: { ...bare, kid: h.kid } }, h],
      ['y on an Ed25519 key', { jwk: { ...bare, y: ec.publicJwk.y } }, h],
      ['another cnf member', { jwk: bare, jkt: jwkThumbprint(h.publicJwk) }, h],
      ['crv spelt in lower case', { jwk: { ...bare, crv: 'ed25519' } }, h],
    ];
    for (const [name, cnf, holder] of cases) {
      const r = await send(hostile(jti, cnf, holder));
      assert.doesNotThrow(() => assertDeny(r, 'passport_cnf_invalid'), name);
    }
    assertAllow(await send(genuine), 'payments-create');
  });

  it('revokes a holder key under every spelling: key_revoked for the canonical one, passport_cnf_invalid for the other three', async () => {
    const jti = `keys-revoked-${Date.now()}`;
    const canonical = revokedHolder.publicJwk.x;
    const r0 = await send(hostile(jti, { jwk: { kty: 'OKP', crv: 'Ed25519', x: canonical } }, revokedHolder));
    assertDeny(r0, 'key_revoked');
    for (const x of trailingBitSpellings(canonical)) {
      assertDeny(await send(hostile(jti, { jwk: { kty: 'OKP', crv: 'Ed25519', x } }, revokedHolder)), 'passport_cnf_invalid');
    }
    assertAllow(await send(signCheck(trust, { passport: { jti } })), 'payments-create');
  });

  it('property: no spelling of the holder key other than the canonical one is ever allowed', async () => {
    const x = trust.holder.publicJwk.x;
    const mutate = fc.oneof(
      fc.constantFrom(...trailingBitSpellings(x), ...otherSpellings(x)),
      fc.tuple(fc.integer({ min: 0, max: 43 }), fc.constantFrom('=', ' ', '\t', '.', '+', '/', '%', '\u00e9')).map(([i, c]) => x.slice(0, i) + c + x.slice(i)),
      fc.integer({ min: 0, max: 42 }).map((i) => x.slice(0, i) + x.slice(i + 1)),
    );
    const jti = `keys-prop-${Date.now()}`;
    await fc.assert(
      fc.asyncProperty(mutate, async (spelling) => {
        fc.pre(spelling !== x);
        const r = await send(hostile(jti, { jwk: { kty: 'OKP', crv: 'Ed25519', x: spelling } }, trust.holder));
        assertDeny(r, 'passport_cnf_invalid');
      }),
      { numRuns: 60 },
    );
    assertAllow(await send(signCheck(trust, { passport: { jti } })), 'payments-create');
  });

  it('refuses a reloaded bundle whose issuer key is a torsion point, keeps the last good one, and never accepts a forged passport for it', async () => {
    const jti = `keys-reload-${Date.now()}`;
    const genuine = signCheck(trust, { passport: { jti } });
    const identity = smallOrderEncodings()[0]!;
    const forgedKid = 'torsion-issuer';
    const bad = bundleDoc();
    // Written as JSON text: buildBundle itself (validateBundle) would refuse to build it.
    const text = JSON.stringify({
      ...bad,
      keys: [...bad.keys, { kid: forgedKid, issuer: ISSUER, trust_domain: TRUST_DOMAIN, max_key_binding: 'attested_workload', jwk: { kty: 'OKP', crv: 'Ed25519', x: identity.x } }],
    });
    const before = srv.log.length;
    trust.writeBundle(text);
    await waitFor('the reload to be refused', () => srv.log.slice(before).some((l) => l.includes('bundle replacement refused')));
    const line = srv.log.slice(before).find((l) => l.includes('bundle replacement refused'))!;
    assert.match(line, /bundle_invalid/);
    assert.match(line, /\/keys\/2\/jwk: key \\"torsion-issuer\\": \\"x\\" is an Ed25519 point of small order/);

    // One signature verifies over everything for the identity key: R = identity, S = 0.
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: ISSUER, sub: SUBJECT, aud: AUDIENCE, iat, exp: iat + 60, jti, trust_domain: TRUST_DOMAIN, cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: trust.holder.publicJwk.x } }, key_binding: 'software' };
    const input = `${b64url(Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: forgedKid })))}.${b64url(Buffer.from(JSON.stringify(claims)))}`;
    const forgedPassport = `${input}.${b64url(Buffer.concat([edEncode(1n, 0), Buffer.alloc(32)]))}`;
    const forged = signCheck(trust, { passportToken: forgedPassport });
    assertDeny(await send(forged), 'passport_kid_unknown');
    await sleep(250);
    assertAllow(await send(genuine), 'payments-create');
    // And a good bundle after it is taken again.
    trust.writeBundle(bundleDoc());
    const good = serial - 1;
    await waitFor('the good bundle', () => srv.log.slice(before).some((l) => l.includes('bundle loaded') && l.includes(`"serial":${good}`)));
  });

  it('the core signer refuses to sign for a passport whose cnf is not canonical', () => {
    const x = trailingBitSpellings(trust.holder.publicJwk.x)[0]!;
    const passport = issuePassport({
      key: trust.issuerKey,
      issuer: ISSUER,
      subject: SUBJECT,
      audience: AUDIENCE,
      trustDomain: TRUST_DOMAIN,
      holder: { kty: 'OKP', crv: 'Ed25519', x },
      keyBinding: 'software',
    });
    assert.throws(() => signCheck(trust, { passportToken: passport }), { code: 'jwk_encoding_invalid' });
  });
});
