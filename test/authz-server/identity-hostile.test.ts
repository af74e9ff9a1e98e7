/**
 * Identities and the JSON profile through the real gRPC server, with Envoy-shaped CheckRequests
 * (docs/transcript-v1.md §2, §3, §4.2, §5): every hostile attempt is denied with its exact reason,
 * nothing it carried reaches a header, metadata, audit line or log line with a control character, and
 * afterwards the genuine request with the same passport (same jti) is still allowed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildBundle, signBundle } from '../../core/src/bundle/index.js';
import { b64url } from '../../core/src/encoding.js';
import { signCompact } from '../../core/src/jws.js';
import { newJti, PASSPORT_TYP } from '../../core/src/passport.js';
import { signBytes } from '../../core/src/keys.js';
import { CONTROL_CHARACTER } from '../../core/src/printable.js';
import { structToPlain } from '../support/envoy-api.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { waitFor } from '../support/clock.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { BROKER_ISSUER, defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';
import { route, trustKey } from '../support/world.js';

const REVOKED = 'spiffe://example.test/ns/shop/sa/revoked';

describe('identities and the JSON profile through the gRPC server', function () {
  this.timeout(60_000);
  let t: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;
  let auditFile: string;

  before(async () => {
    t = makeTrust('tp-ident-');
    const nowS = Math.floor(Date.now() / 1000);
    const built = buildBundle({
      issuedAt: nowS - 60,
      expiresAt: nowS + 86_400,
      keys: [trustKey(t.issuerKey), trustKey(t.attestedKey, { issuer: BROKER_ISSUER, max_key_binding: 'attested_workload' })],
      routes: [
        ...defaultRoutes(),
        route('peer-bound', { match: { methods: ['POST'], path: '/v1/peer' }, require_peer_principal: true, bound_headers: ['content-type'] }),
      ],
      revocations: { subjects: [REVOKED] },
    });
    if (!built.ok) throw new Error(JSON.stringify(built));
    t.writeBundle(signBundle(built.bundle, t.bundleSigner));
    auditFile = join(t.dir, 'audit.jsonl');
    srv = await startInProcess(t, { audit: { sink: 'file', file: auditFile, flush_interval_ms: 0 } });
    client = makeCheckClient(srv.grpcAddress);
  });

  after(async () => {
    client.close();
    await srv.server.close();
    t.dispose();
  });

  /** The claims issuePassport writes, signed by the trusted issuer key, with `over` applied. */
  function claims(jti: string, over: Record<string, unknown> = {}): Record<string, unknown> {
    const nowS = Math.floor(Date.now() / 1000);
    const h = t.holder.publicJwk;
    return {
      iss: ISSUER,
      sub: SUBJECT,
      aud: AUDIENCE,
      iat: nowS,
      exp: nowS + 60,
      jti,
      trust_domain: TRUST_DOMAIN,
      cnf: { jwk: { kty: h.kty, crv: h.crv, x: h.x } },
      key_binding: 'software',
      ...over,
    };
  }
  const header = (): Record<string, unknown> => ({ alg: 'EdDSA', typ: PASSPORT_TYP, kid: t.issuerKey.kid });
  const forged = (jti: string, over: Record<string, unknown>): string => signCompact(header(), claims(jti, over), 'EdDSA', t.issuerKey.privateKey);
  /** A passport from exact JSON texts, signed by the trusted issuer key. */
  function rawPassport(headerText: string, payloadText: string): string {
    const input = `${b64url(Buffer.from(headerText))}.${b64url(Buffer.from(payloadText))}`;
    return `${input}.${b64url(signBytes('EdDSA', t.issuerKey.privateKey, Buffer.from(input, 'ascii')))}`;
  }

  /** The request signed with a genuine passport, presented with `hostile` in its place (the proof is never reached). */
  function presenting(hostile: string): ReturnType<typeof signCheck> {
    const s = signCheck(t, { passportToken: forged(newJti(), {}) });
    const headers = new Map(s.headers);
    headers.set('x-trustplane-passport', hostile);
    return { ...s, passport: hostile, headers };
  }

  async function expectGenuineAllowed(jti: string): Promise<void> {
    const genuine = signCheck(t, { passportToken: forged(jti, {}) });
    assertAllow(await client.check(checkBytes(genuine)), 'payments-create');
  }

  const HOSTILE_SUBJECTS: Array<[string, string]> = [
    ['a line feed', `${SUBJECT}\n`],
    ['CR LF inside', 'spiffe://example.test/ns/shop\r\nx-injected: 1/sa/checkout'],
    ['NUL', `${SUBJECT}\u0000`],
    ['NEL (C1)', `${SUBJECT}\u0085`],
    ['U+2028', `${SUBJECT}\u2028`],
    ['a ".." segment matched by the route pattern /ns/*/sa/*', 'spiffe://example.test/ns/../sa/checkout'],
    ['a "." segment', 'spiffe://example.test/ns/./sa/checkout'],
    ['an empty segment', 'spiffe://example.test/ns//sa/checkout'],
    ['percent-encoded letters', 'spiffe://example.test/ns/sh%6Fp/sa/checkout'],
    ['the revoked subject re-spelled', 'spiffe://example.test/ns/shop/sa/r%65voked'],
    ['an upper-case scheme', 'SPIFFE://example.test/ns/shop/sa/checkout'],
    ['an upper-case trust domain', 'spiffe://Example.test/ns/shop/sa/checkout'],
    ['a port', 'spiffe://example.test:443/ns/shop/sa/checkout'],
    ['a query', `${SUBJECT}?admin=1`],
    ['a trailing slash', `${SUBJECT}/`],
  ];

  for (const [what, sub] of HOSTILE_SUBJECTS) {
    it(`denies a sub with ${what} as passport_claims_invalid, and the genuine passport still passes`, async () => {
      const jti = newJti();
      const s = signCheck(t, { passportToken: forged(jti, { sub }) });
      const r = await client.check(checkBytes(s));
      assertDeny(r, 'passport_claims_invalid');
      for (const v of Object.values(structToPlain(r.dynamic_metadata))) if (typeof v === 'string') assert.equal(CONTROL_CHARACTER.test(v), false);
      await expectGenuineAllowed(jti);
    });
  }

  it('denies iss, trust_domain and aud outside their syntax as passport_claims_invalid', async () => {
    for (const over of [{ iss: 'issuer.example.test' }, { iss: `${ISSUER}\n` }, { trust_domain: 'EXAMPLE.test' }, { aud: `${AUDIENCE}\t` }, { aud: [AUDIENCE] }]) {
      const jti = newJti();
      assertDeny(await client.check(checkBytes(presenting(forged(jti, over)))), 'passport_claims_invalid');
      await expectGenuineAllowed(jti);
    }
  });

  it('a revoked subject is passport_revoked; its re-spellings are refused before revocation is consulted', async () => {
    const jti = newJti();
    // The default route's pattern /ns/shop/sa/* matches the revoked subject: only revocation stops it.
    assertDeny(await client.check(checkBytes(signCheck(t, { passportToken: forged(jti, { sub: REVOKED }) }))), 'passport_revoked');
    for (const spelling of ['spiffe://example.test/ns/shop/sa/%72evoked', 'spiffe://example.test/ns/shop/./sa/revoked', 'spiffe://example.test/ns/x/../shop/sa/revoked']) {
      assertDeny(await client.check(checkBytes(signCheck(t, { passportToken: forged(jti, { sub: spelling }) }))), 'passport_claims_invalid');
    }
  });

  it('refuses random subjects with dot segments, escapes, control characters or whitespace (property)', async () => {
    const jti = newJti();
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/);
    const poison = fc.constantFrom('.', '..', '', '%2E', '%2e%2e', 'a%20b', 'b%61d', ...Array.from({ length: 0x20 }, (_, i) => `x${String.fromCharCode(i)}`), 'x\x7f', 'x\u0085', 'x\u009b', 'x\u2028', 'x\u2029', 'a b', 'a\u00a0b');
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { maxLength: 3 }), poison, fc.array(segment, { maxLength: 2 }), async (before, p, after) => {
        const sub = `spiffe://example.test/${[...before, p, ...after].join('/')}`;
        const s = signCheck(t, { passportToken: forged(jti, { sub }) });
        assertDeny(await client.check(checkBytes(s)), 'passport_claims_invalid');
      }),
      { numRuns: 60 },
    );
    await expectGenuineAllowed(jti);
  });

  it('the JSON profile: fractions, exponents, -0, duplicates and unknown header members are malformed', async () => {
    const jti = newJti();
    const c = JSON.stringify(claims(jti));
    const iat = (claims(jti) as { iat: number }).iat;
    const h = JSON.stringify(header());
    const cases: Array<[string, string, string]> = [
      ['iat with a fraction', h, c.replace(`"iat":${iat}`, `"iat":${iat}.0`)],
      ['iat with an exponent', h, c.replace(`"iat":${iat}`, `"iat":${iat / 1e9}e9`)],
      ['nbf -0', h, c.replace('{', '{"nbf":-0,')],
      ['a duplicate sub (last would be the allowed one)', h, c.replace('{', `{"sub":${JSON.stringify(REVOKED)},`)],
      ['a duplicate member in cnf.jwk', h, c.replace('"kty":"OKP"', '"kty":"OKP","kty":"OKP"')],
      ['an unknown header member', h.replace('}', ',"b64":false}'), c],
      ['a duplicate kid', h.replace('{', '{"kid":"other",'), c],
      ['a kid with a line feed', h.replace(`"${t.issuerKey.kid}"`, JSON.stringify(`${t.issuerKey.kid}\n`)), c],
    ];
    for (const [what, ht, pt] of cases) {
      const r = await client.check(checkBytes(presenting(rawPassport(ht, pt))));
      assert.equal(structToPlain(r.dynamic_metadata)['reason'], 'passport_malformed', what);
      assertDeny(r, 'passport_malformed');
    }
    // The same claims written plainly are the genuine passport: its jti was never burnt.
    assertAllow(await client.check(checkBytes(signCheck(t, { passportToken: rawPassport(h, c) }))), 'payments-create');
  });

  it('proof parameters under the JSON profile, then the genuine proof with the same passport is allowed', async () => {
    const passport = forged(newJti(), {});
    const s = signCheck(t, { passportToken: passport });
    const [, params, sig] = s.proof.split('.');
    const text = Buffer.from(params!, 'base64url').toString('utf8');
    const ts = (JSON.parse(text) as { ts: number }).ts;
    const rewrite = (f: (t: string) => string): string => `v1.${b64url(Buffer.from(f(text)))}.${sig}`;
    for (const proof of [
      rewrite((x) => x.replace(`"ts":${ts}`, `"ts":${ts}.0`)),
      rewrite((x) => x.replace(`"ts":${ts}`, `"ts":${ts / 1e9}e9`)),
      rewrite((x) => x.replace('{', '{"route":"attested-admin",')),
      rewrite((x) => x.replace('{', '{"ts":1,')),
      `v1.${params}.`,
    ]) {
      const hostile = new Map(s.headers);
      hostile.set('x-trustplane-proof', proof);
      assertDeny(await client.check(checkBytes({ ...s, headers: hostile })), 'proof_malformed');
    }
    assertAllow(await client.check(checkBytes(s)), 'payments-create');
  });

  it('only spaces and tabs around a credential are ignored; other Unicode spaces make it malformed', async () => {
    const s = signCheck(t, { passportToken: forged(newJti(), {}) });
    for (const ws of ['\u00a0', '\ufeff', '\u2028', '\u3000']) {
      const hostile = new Map(s.headers);
      hostile.set('x-trustplane-passport', `${s.passport}${ws}`);
      assertDeny(await client.check(checkBytes({ ...s, headers: hostile })), 'passport_malformed');
      const hostileProof = new Map(s.headers);
      hostileProof.set('x-trustplane-proof', `${ws}${s.proof}`);
      assertDeny(await client.check(checkBytes({ ...s, headers: hostileProof })), 'proof_malformed');
    }
    const padded = new Map(s.headers);
    padded.set('x-trustplane-passport', ` \t${s.passport}\t `);
    assertAllow(await client.check(checkBytes({ ...s, headers: padded }, { encodeRawHeaders: true })), 'payments-create');
  });

  it('peer_principal_mismatch: the route requires the mTLS peer to be the passport subject', async () => {
    const s = signCheck(t, { passportToken: forged(newJti(), {}), route: 'peer-bound', path: '/v1/peer' });
    const peer = (principal?: string) => ({ source: { address: '10.0.0.7', port: 51234, ...(principal !== undefined ? { principal } : {}) } });
    for (const principal of [undefined, 'spiffe://example.test/ns/shop/sa/other', `${SUBJECT}\n`, 'spiffe://example.test/ns/shop/sa/%63heckout']) {
      assertDeny(await client.check(checkBytes(s, peer(principal))), 'peer_principal_mismatch');
    }
    assertAllow(await client.check(checkBytes(s, peer(SUBJECT))), 'peer-bound');
  });

  it('no control character from the request reaches metadata, the audit line or the log', async () => {
    const s = signCheck(t, { passportToken: forged(newJti(), {}) });
    const nasty = 'pay\nments\u0085\u2028x';
    const r = await client.check(
      checkBytes(s, { contextExtensions: { trustplane_route: nasty }, path: '/v1/payments?x=\u0001', source: { address: '10.0.0.7', port: 1, principal: 'spiffe://x/\u2029' } }),
    );
    assertDeny(r, 'route_not_found');
    const meta = structToPlain(r.dynamic_metadata);
    assert.equal(meta['route_id'], 'pay%0Aments%C2%85%E2%80%A8x');
    let lines: string[] = [];
    await waitFor('the audit line', () => {
      lines = readFileSync(auditFile, 'utf8').split('\n').filter((l) => l.includes('route_not_found'));
      return lines.length > 0;
    });
    for (const line of [...lines, ...srv.log.map((l) => l.replace(/\n$/, ''))]) {
      assert.equal(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(line), false, line);
      const event = JSON.parse(line) as Record<string, unknown>;
      for (const v of Object.values(event)) if (typeof v === 'string') assert.equal(CONTROL_CHARACTER.test(v), false, `${line}: ${v}`);
    }
    const event = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.equal(event['route_id'], 'pay%0Aments%C2%85%E2%80%A8x');
    assert.equal(event['source_principal'], 'spiffe://x/%E2%80%A9');
    // The same passport and proof, presented as signed, were never burnt by the hostile attempt.
    assertAllow(await client.check(checkBytes(s)), 'payments-create');
  });
});
