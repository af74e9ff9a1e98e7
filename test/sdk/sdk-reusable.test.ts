/**
 * The SDK's reusable mode (docs/sdk.md, docs/transcript-v1.md §15): one passport per route, reused
 * until shortly before it expires, a fresh proof per request; every signed request decided by the
 * real engine with real keys, on a frozen clock the test moves.
 */
import assert from 'node:assert/strict';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { issuePassport } from '../../core/src/passport.js';
import type { PublicJwk } from '../../core/src/types.js';
import { readPassportClaims } from '../../core/src/sign-request.js';
import { collectHeaders } from '../../core/src/sign-request.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import { createSigner, type SignerOptions } from '../../sdk/src/index.js';
import { AUDIENCE, ISSUER, NOW_MS, SUBJECT, TRUST_DOMAIN, makeWorld, route, type World } from '../support/world.js';

describe('SDK reusable passports', () => {
  let w: World;
  let now: number;
  let store: MemoryReplayStore;
  const body = '{"amount":100}';

  beforeEach(() => {
    w = makeWorld({
      routes: [
        route('payments-create', { bound_headers: ['content-type'], reusable_passport: { max_lifetime_s: 600 } }),
        route('per-request-only', { match: { methods: ['POST'], path: '/v1/refunds' }, bound_headers: ['content-type'] }),
      ],
    });
    now = NOW_MS;
    store = new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity });
  });

  const signer = (over: Partial<SignerOptions> = {}) =>
    createSigner({
      key: w.holder,
      passport: { kind: 'issuer', key: w.issuerKey, issuer: ISSUER, subject: SUBJECT, trustDomain: TRUST_DOMAIN, lifetimeS: 600 },
      audience: AUDIENCE,
      route: 'payments-create',
      bindHeaders: ['content-type'],
      clock: () => now,
      reusable: true,
      ...over,
    });

  /** What a custom passport source returns: a passport for `holder` from the world's issuer, reusable or per-request. */
  const issued = (holder: PublicJwk, reusable: boolean): string =>
    issuePassport({ key: w.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder, keyBinding: 'software', lifetimeS: 600, nowMs: now, ...(reusable ? { reusable: true } : {}) });

  const sendAndDecide = async (headers: Record<string, string>, path = '/v1/payments'): Promise<ReasonCode> => {
    const all = collectHeaders({ 'content-type': 'application/json', ...headers });
    const d = await verifyRequest({
      view: { method: 'POST', scheme: 'https', authority: 'api.example.test', path, headers: all, body: { kind: 'bytes', bytes: Buffer.from(body), partial: false } },
      bundle: w.bundle,
      store,
      nowMs: now,
    });
    return d.reason;
  };
  const sign = (s: ReturnType<typeof signer>, path = '/v1/payments', routeId?: string) =>
    s.sign({ method: 'POST', url: `https://api.example.test${path}`, headers: { 'content-type': 'application/json' }, body, ...(routeId ? { route: routeId } : {}) });

  it('presents one reusable passport with a fresh proof per request, and every request is allowed', async () => {
    const s = signer();
    const signed = [];
    for (let i = 0; i < 3; i++) signed.push(await sign(s));
    const passports = new Set(signed.map((h) => h['x-trustplane-passport']));
    assert.equal(passports.size, 1, 'one passport');
    assert.equal(readPassportClaims([...passports][0]!).reusable, true);
    assert.equal(new Set(signed.map((h) => h['x-trustplane-proof'])).size, 3, 'a proof per request');
    for (const h of signed) assert.equal(await sendAndDecide(h), 'ok');
    assert.equal(await sendAndDecide(signed[0]!), 'proof_replay');
  });

  it('obtains the next passport refreshBeforeS before expiry, not earlier', async () => {
    const s = signer({ reusable: { refreshBeforeS: 60 } });
    const first = (await sign(s))['x-trustplane-passport'];
    const exp = readPassportClaims(first!).exp;
    now = (exp - 60) * 1000 - 1;
    assert.equal((await sign(s))['x-trustplane-passport'], first);
    now = (exp - 60) * 1000;
    const second = await sign(s);
    assert.notEqual(second['x-trustplane-passport'], first);
    assert.equal(await sendAndDecide(second), 'ok');
  });

  it('fetches once for concurrent first requests, and again after a failed fetch', async () => {
    let calls = 0;
    let fail = true;
    const s = signer({
      passport: {
        kind: 'custom',
        get: async ({ reusable, holder }) => {
          calls++;
          assert.equal(reusable, true);
          await new Promise((r) => setTimeout(r, 5));
          if (fail) throw new Error('issuer unreachable');
          return issued(holder.publicJwk, true);
        },
      },
    });
    await assert.rejects(Promise.all([sign(s), sign(s)]), /issuer unreachable/);
    assert.equal(calls, 1, 'the two requests shared one fetch');
    fail = false;
    const signed = await Promise.all(Array.from({ length: 5 }, () => sign(s)));
    assert.equal(calls, 2, 'a failed fetch is not kept');
    for (const h of signed) assert.equal(await sendAndDecide(h), 'ok');
  });

  it('a route that does not accept reusable passports denies them: passport_reuse_not_allowed', async () => {
    const h = await sign(signer(), '/v1/refunds', 'per-request-only');
    assert.equal(await sendAndDecide(h, '/v1/refunds'), 'passport_reuse_not_allowed');
  });

  it('without reusable, a fresh per-request passport each time, as before', async () => {
    const s = signer({ reusable: false, passport: { kind: 'issuer', key: w.issuerKey, issuer: ISSUER, subject: SUBJECT, trustDomain: TRUST_DOMAIN, lifetimeS: 60 } });
    const a = await sign(s);
    const b = await sign(s);
    assert.notEqual(a['x-trustplane-passport'], b['x-trustplane-passport']);
    assert.equal(readPassportClaims(a['x-trustplane-passport']!).reusable, undefined);
    assert.equal(await sendAndDecide(a), 'ok');
    assert.equal(await sendAndDecide(a), 'jti_replay');
  });

  it('drops a passport it cannot read like a failed fetch: the next request obtains another', async () => {
    let calls = 0;
    const s = signer({
      passport: {
        kind: 'custom',
        get: async ({ holder }) => {
          calls++;
          if (calls === 1) return 'not-a-passport';
          return issued(holder.publicJwk, true);
        },
      },
    });
    await assert.rejects(sign(s), { name: 'TypeError', message: 'passport is not a compact JWS' });
    const h = await sign(s);
    assert.equal(calls, 2, 'the unreadable passport was not kept');
    assert.equal(await sendAndDecide(h), 'ok');
  });

  it('refuses a per-request passport from the source instead of reusing it into jti_replay, and does not keep it', async () => {
    let calls = 0;
    const s = signer({
      passport: {
        kind: 'custom',
        get: async ({ holder }) => {
          calls++;
          return issued(holder.publicJwk, false);
        },
      },
    });
    await assert.rejects(sign(s), { name: 'TypeError', message: 'createSigner reusable: the custom passport source returned a per-request passport (no "reusable": true claim)' });
    await assert.rejects(sign(s), /per-request passport/);
    assert.equal(calls, 2, 'a refused passport is not kept');
  });

  it('refuses a refreshBeforeS that is not a non-negative integer, naming the option', () => {
    assert.throws(() => signer({ reusable: { refreshBeforeS: -1 } }), /reusable.refreshBeforeS/);
  });
});
