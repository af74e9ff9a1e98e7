/**
 * The middleware's verified-passport cache (docs/middleware.md "Reusable passports",
 * docs/transcript-v1.md §15.4): the one implementation the server uses too
 * (core/src/engine/passport-cache.ts), inside a real `node:http` service with the middleware, on
 * loopback, with real keys, a signed bundle file that hot-reloads, and the real clock. What the cache
 * saved is read from its own counters: `fills` counts passports verified in full and kept, `hits`
 * the checks that skipped that verification.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../authz-server/src/config.js';
import { PASSPORT_CACHE_DEFAULT_MAX_ENTRIES, VerifiedPassportCache } from '../../core/src/engine/passport-cache.js';
import { issuePassport } from '../../core/src/passport.js';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import { readPassportClaims, signRequest } from '../../core/src/sign-request.js';
import { trustplane, Verifier, type VerifierOptions } from '../../middleware/src/index.js';
import { afterStart, nextSecond, sleep, waitFor } from '../support/clock.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN, route } from '../support/world.js';

const AUTHORITY = 'api.example.test';

/** The default routes plus `sessions`, which accepts reusable passports for up to 600 s. */
const routes = () => [...defaultRoutes(), route('sessions', { match: { methods: ['POST'], path: '/v1/sessions' }, bound_headers: ['content-type'], reusable_passport: { max_lifetime_s: 600 } })];

interface Service {
  readonly verifier: Verifier;
  readonly base: string;
  close(): Promise<void>;
}

/** The middleware in front of a handler that answers 200, as docs/middleware.md shows for node:http. */
async function service(t: TrustSetup, over: Partial<VerifierOptions> = {}): Promise<Service> {
  const verifier = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath, pollIntervalMs: 100 }, ...over });
  const mw = trustplane(verifier);
  const server: Server = createServer((req, res) => mw(req, res, () => res.writeHead(200).end('ok')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    verifier,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await verifier.close();
    },
  };
}

/** A reusable passport for the setup's holder, dated for a verifier that opened moments ago. */
function reusablePassport(t: TrustSetup, lifetimeS = 600, toleranceS = 30): string {
  return issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', lifetimeS, reusable: true, ...afterStart(toleranceS) });
}

/** A fresh proof under `passport` for POST /v1/sessions: the headers to send. */
function signed(t: TrustSetup, passport: string): Record<string, string> {
  const headers = { host: AUTHORITY, 'content-type': 'application/json' };
  const s = signRequest({ method: 'POST', authority: AUTHORITY, pathAndQuery: '/v1/sessions', headers, body: '{}' }, { passport, holder: t.holder, route: 'sessions', bindHeaders: ['content-type'] });
  return { ...headers, ...s.headers };
}

/** Sends over node:http (Host set to the signed authority); resolves with the status and the reason header ('ok' for a 200). */
function send(base: string, headers: Record<string, string>): Promise<ReasonCode> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: '/v1/sessions', headers }, (res) => {
      res.resume();
      res.on('end', () => {
        const reason = (res.headers['x-trustplane-reason'] as ReasonCode | undefined) ?? 'ok';
        assert.equal(res.statusCode, REASONS[reason].status, `status ${res.statusCode} for ${reason}`);
        resolve(reason);
      });
    });
    req.on('error', reject);
    req.end('{}');
  });
}

describe('middleware: the verified-passport cache', function () {
  this.timeout(30_000);
  let t: TrustSetup;
  let svc: Service;
  let cache: VerifiedPassportCache;
  let serial = 1;

  const reload = async (revokedJtis?: string[]): Promise<void> => {
    serial++;
    t.writeBundle(t.bundle({ serial, routes: routes(), ...(revokedJtis ? { revocations: { jtis: revokedJtis } } : {}) }));
    await waitFor(`serial ${serial} in use`, () => svc.verifier.bundle()?.serial === serial);
  };

  before(async () => {
    t = makeTrust('tp-mw-cache-');
    t.writeBundle(t.bundle({ serial, routes: routes() }));
    svc = await service(t);
    assert.ok(svc.verifier.passportCache instanceof VerifiedPassportCache, 'the middleware has a cache by default');
    cache = svc.verifier.passportCache;
    await nextSecond();
  });
  after(async () => {
    await svc?.close();
    t?.dispose();
  });

  it('verifies a reusable passport used twice once: the second request is a cache hit; a replayed proof is still proof_replay', async () => {
    const passport = reusablePassport(t);
    const [fills, hits] = [cache.fills, cache.hits];
    const first = signed(t, passport);
    assert.equal(await send(svc.base, first), 'ok');
    assert.deepEqual([cache.fills - fills, cache.hits - hits], [1, 0], 'verified in full and kept');
    assert.equal(await send(svc.base, signed(t, passport)), 'ok');
    assert.deepEqual([cache.fills - fills, cache.hits - hits], [1, 1], 'the second request skipped the passport verification');
    // The proof is never cached: the same proof again is consumed already, cache hit or not.
    assert.equal(await send(svc.base, first), 'proof_replay');
    assert.equal(cache.fills - fills, 1);
  });

  it('keeps neither a per-request passport nor a failure', async () => {
    const size = cache.size;
    const perRequest = issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', lifetimeS: 60, ...afterStart() });
    assert.equal(await send(svc.base, signed(t, perRequest)), 'ok');
    const token = reusablePassport(t);
    const forged = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.slice(-1);
    assert.equal(await send(svc.base, signed(t, forged)), 'passport_signature_invalid');
    assert.equal(await send(svc.base, signed(t, forged)), 'passport_signature_invalid');
    assert.equal(cache.size, size, 'nothing was stored');
  });

  it('a bundle change takes effect on the next request: a revocation denies the cached passport, and the next bundle verifies it afresh', async () => {
    const passport = reusablePassport(t);
    assert.equal(await send(svc.base, signed(t, passport)), 'ok');
    assert.equal(await send(svc.base, signed(t, passport)), 'ok');
    const fills = cache.fills;
    await reload([readPassportClaims(passport).jti]);
    assert.equal(await send(svc.base, signed(t, passport)), 'passport_revoked');
    assert.equal(cache.fills, fills + 1, 'verified again under the new bundle (a new generation), then refused by its revocation');
    await reload();
    assert.equal(await send(svc.base, signed(t, passport)), 'ok');
    assert.equal(cache.fills, fills + 2);
    assert.equal(cache.size, 1, 'each reload emptied the cache: only this passport, verified under the last bundle');
  });
});

describe('middleware: the cache bound and option', function () {
  this.timeout(30_000);
  let t: TrustSetup;
  before(() => {
    t = makeTrust('tp-mw-cache-bound-');
    t.writeBundle(t.bundle({ routes: routes() }));
  });
  after(() => t?.dispose());

  it('holds at most passportCacheMaxEntries, the oldest going first', async () => {
    const svc = await service(t, { passportCacheMaxEntries: 2 });
    try {
      await nextSecond();
      const cache = svc.verifier.passportCache!;
      const passports = [reusablePassport(t), reusablePassport(t), reusablePassport(t)];
      for (const p of passports) {
        assert.equal(await send(svc.base, signed(t, p)), 'ok');
        assert.ok(cache.size <= 2, `size ${cache.size}`);
      }
      assert.deepEqual([cache.size, cache.fills, cache.maxEntries], [2, 3, 2]);
      assert.equal(await send(svc.base, signed(t, passports[2]!)), 'ok');
      assert.equal(cache.hits, 1, 'the newest is still there');
      assert.equal(await send(svc.base, signed(t, passports[0]!)), 'ok');
      assert.deepEqual([cache.fills, cache.size], [4, 2], 'the oldest was pushed out and verified in full again');
    } finally {
      await svc.close();
    }
  });

  it('applies the passport expiry on the first request after it, cached or not', async () => {
    // Tolerance 0: the expiry shows within the passport's own two-second lifetime.
    const svc = await service(t, { engine: { clockToleranceS: 0 } });
    try {
      await nextSecond();
      const passport = reusablePassport(t, 2, 0);
      assert.equal(await send(svc.base, signed(t, passport)), 'ok');
      assert.equal(svc.verifier.passportCache!.fills, 1);
      const exp = readPassportClaims(passport).exp;
      while (Date.now() < exp * 1000) await sleep(exp * 1000 - Date.now());
      assert.equal(await send(svc.base, signed(t, passport)), 'passport_expired');
      assert.equal(svc.verifier.passportCache!.hits, 1, 'found in the cache, and refused: time rules run on every check');
    } finally {
      await svc.close();
    }
  });

  it('defaults to the server\'s bound; 0 turns it off (every use verified in full); a bad bound is named before anything opens', async () => {
    const server = loadConfig({ file: { bundle: { path: t.bundlePath, signing_keys: t.jwksPath } } }).engine.passport_cache_max_entries;
    assert.equal(server, PASSPORT_CACHE_DEFAULT_MAX_ENTRIES);
    const byDefault = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath } });
    assert.equal(byDefault.passportCache?.maxEntries, server);
    await byDefault.close();
    const off = await service(t, { passportCacheMaxEntries: 0 });
    try {
      assert.equal(off.verifier.passportCache, undefined);
      await nextSecond();
      const passport = reusablePassport(t);
      assert.equal(await send(off.base, signed(t, passport)), 'ok');
      assert.equal(await send(off.base, signed(t, passport)), 'ok');
    } finally {
      await off.close();
    }
    for (const bad of [-1, 1.5, 1_000_001, Number.NaN]) {
      await assert.rejects(Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath }, passportCacheMaxEntries: bad }), {
        name: 'TypeError',
        message: `Verifier.open passportCacheMaxEntries: must be an integer from 0 to 1000000, got ${String(bad)}`,
      });
    }
  });

  it('an engine.passportCache from a JavaScript caller does not replace the verifier\'s own', async () => {
    const foreign = new VerifiedPassportCache(5);
    const svc = await service(t, { engine: { passportCache: foreign } as never });
    try {
      await nextSecond();
      const passport = reusablePassport(t);
      assert.equal(await send(svc.base, signed(t, passport)), 'ok');
      assert.deepEqual([foreign.fills, svc.verifier.passportCache!.fills], [0, 1]);
    } finally {
      await svc.close();
    }
  });
});
