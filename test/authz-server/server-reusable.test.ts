/**
 * Reusable passports through the real server (docs/transcript-v1.md §15): startServer on loopback
 * over real gRPC with a signed bundle file that hot-reloads, and two real server processes on one
 * real redis-server. Every request is signed with real keys on the real clock.
 */
import assert from 'node:assert/strict';
import type { Route } from '../../core/src/bundle/types.js';
import { readPassportClaims } from '../../core/src/sign-request.js';
import { VerifiedPassportCache } from '../../core/src/engine/passport-cache.js';
import { assertAllow, assertDeny, tally } from '../support/check-assertions.js';
import { sleep, waitFor } from '../support/clock.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { baseConfig, requireBuiltCli, spawnServerProcess, startInProcess, type InProcessServer, type ServerProcess } from '../support/server-harness.js';
import { checkBytes, signCheck, type SignedCheck, type SignedCheckOptions } from '../support/signed-check.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import type { OfficialCheckResponse } from '../support/envoy-api.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';
import { route } from '../support/world.js';

const CACHE_BOUND = 4;

/** The default routes plus one that accepts reusable passports for up to 600 s. */
function routes(reusable: Route['reusable_passport'] | null = { max_lifetime_s: 600 }): Route[] {
  return [
    ...defaultRoutes(),
    route('sessions', {
      match: { methods: ['POST'], path: '/v1/sessions' },
      bound_headers: ['content-type'],
      body: { mode: 'bound', hash_source: 'filter' },
      ...(reusable ? { reusable_passport: reusable } : {}),
    }),
  ];
}

/** A request on the sessions route: with `token` a fresh proof under that passport, else a new reusable passport. */
function session(trust: TrustSetup, token?: string, over: SignedCheckOptions = {}): SignedCheck {
  return signCheck(trust, {
    path: '/v1/sessions',
    route: 'sessions',
    ...(token !== undefined ? { passportToken: token } : { passport: { reusable: true, lifetimeS: 600 } }),
    ...over,
  });
}

describe('authz server over gRPC: reusable passports', function () {
  this.timeout(30_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;
  let cache: VerifiedPassportCache;
  let serial = 1;

  const check = (s: SignedCheck): Promise<OfficialCheckResponse> => client.check(checkBytes(s));
  const reload = async (opts: { routes?: Route[]; revocations?: { jtis?: string[] } } = {}): Promise<void> => {
    serial++;
    trust.writeBundle(trust.bundle({ serial, routes: opts.routes ?? routes(), ...(opts.revocations ? { revocations: opts.revocations } : {}) }));
    await waitFor(`serial ${serial} in use`, () => srv.server.bundle()?.serial === serial, 5000);
  };

  before(async () => {
    trust = makeTrust('tp-server-reusable-');
    trust.writeBundle(trust.bundle({ serial, routes: routes() }));
    // Tolerance 0: a passport's expiry shows within its own two-second lifetime.
    srv = await startInProcess(trust, { engine: { passport_cache_max_entries: CACHE_BOUND, clock_tolerance_s: 0 } });
    assert.ok(srv.server.passportCache instanceof VerifiedPassportCache, 'the server wires its cache into the engine');
    cache = srv.server.passportCache;
    client = makeCheckClient(srv.grpcAddress);
  });

  after(async () => {
    client?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  afterEach(() => {
    assert.ok(cache.size <= CACHE_BOUND, `cache size ${cache.size} past its bound ${CACHE_BOUND}`);
  });

  it('allows one reusable passport with a fresh proof per request, verifying the passport once', async () => {
    const first = session(trust);
    const fills = cache.fills;
    const hits = cache.hits;
    assertAllow(await check(first), 'sessions');
    for (let i = 0; i < 3; i++) assertAllow(await check(session(trust, first.passport)), 'sessions');
    assert.equal(cache.fills - fills, 1, 'the passport was verified in full once');
    assert.equal(cache.hits - hits, 3, 'and found in the cache for the three later requests');
  });

  it('denies a repeated proof under a reusable passport as proof_replay, cached passport or not', async () => {
    const first = session(trust);
    assertAllow(await check(first), 'sessions');
    assertDeny(await check(first), 'proof_replay');
    const again = session(trust, first.passport);
    assertAllow(await check(again), 'sessions');
    assertDeny(await check(again), 'proof_replay');
  });

  it('denies a reusable passport on a route that does not accept one as passport_reuse_not_allowed', async () => {
    const s = signCheck(trust, { passport: { reusable: true, lifetimeS: 60 } });
    assertDeny(await check(s), 'passport_reuse_not_allowed');
  });

  it('keeps per-request passports exactly as before on the same server: the jti once, never cached', async () => {
    const fills = cache.fills;
    const s = signCheck(trust, { path: '/v1/sessions', route: 'sessions' });
    assertAllow(await check(s), 'sessions');
    assertDeny(await check(signCheck(trust, { path: '/v1/sessions', route: 'sessions', passportToken: s.passport })), 'jti_replay');
    assert.equal(cache.fills, fills, 'a per-request passport is not stored');
  });

  it('fills single-flight: 20 concurrent first checks of one passport verify it once and are all allowed', async () => {
    const token = session(trust).passport;
    const fills = cache.fills;
    const answers = await Promise.all(Array.from({ length: 20 }, () => check(session(trust, token))));
    assert.deepEqual(tally(answers), { 'allow:ok': 20 });
    assert.equal(cache.fills - fills, 1);
  });

  it('a revocation, a bundle reload and the passport expiry each change the very next decision of a cached passport', async () => {
    const first = session(trust);
    const jti = readPassportClaims(first.passport).jti;
    assertAllow(await check(first), 'sessions');
    const hits = cache.hits;
    assertAllow(await check(session(trust, first.passport)), 'sessions');
    assert.equal(cache.hits - hits, 1, 'the passport is cached before the reload');

    await reload({ revocations: { jtis: [jti] } });
    assertDeny(await check(session(trust, first.passport)), 'passport_revoked');
    await reload();
    assertAllow(await check(session(trust, first.passport)), 'sessions');
    await reload({ routes: routes(null) });
    assertDeny(await check(session(trust, first.passport)), 'passport_reuse_not_allowed');
    await reload({ routes: routes({ max_lifetime_s: 300 }) });
    assertDeny(await check(session(trust, first.passport)), 'passport_lifetime_exceeded');
    await reload();

    const short = session(trust, undefined, { passport: { reusable: true, lifetimeS: 2 } });
    assertAllow(await check(short), 'sessions');
    assertAllow(await check(session(trust, short.passport)), 'sessions');
    const exp = readPassportClaims(short.passport).exp;
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 20);
    assertDeny(await check(session(trust, short.passport)), 'passport_expired');
  });

  it('never grows past its bound: ten reusable passports through a cache of four', async () => {
    for (let i = 0; i < 10; i++) {
      assertAllow(await check(session(trust)), 'sessions');
      assert.ok(cache.size <= CACHE_BOUND, `size ${cache.size} after passport ${i + 1}`);
    }
    assert.equal(cache.size, CACHE_BOUND);
  });
});

describe('reusable passports: two server processes on one redis-server', function () {
  this.timeout(90_000);
  let trust: TrustSetup;
  let redis: RedisServer | undefined;
  const procs: ServerProcess[] = [];
  const clients: CheckClient[] = [];

  before(function () {
    requireBuiltCli();
  });

  after(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(procs.splice(0).map((p) => p.stop(5000)));
    await redis?.dispose();
    trust?.dispose();
  });

  it('never accept the same proof twice: 200 presentations of one proof → one allow; 100 fresh proofs of one passport → 100 allows', async function () {
    redis = await RedisServer.create(redisBinaryOrSkip(this));
    await seedGeneration(redis);
    trust = makeTrust('tp-server-reusable-proc-');
    trust.writeBundle(trust.bundle({ serial: 1, routes: routes() }));
    const config = baseConfig(trust, { workers: 1, replay: { store: 'redis', redis: { url: redis.url, command_timeout_ms: 3000 } } });
    const [a, b] = await Promise.all([spawnServerProcess(trust.dir, config, { name: 'a' }), spawnServerProcess(trust.dir, config, { name: 'b' })]);
    procs.push(a!, b!);
    for (const p of [a!, b!]) for (let i = 0; i < 4; i++) clients.push(makeCheckClient(p.grpcAddress, { ownConnection: true }));

    const first = session(trust);
    const bytes = checkBytes(first);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => clients[i % clients.length]!.check(bytes, 30_000)));
    assert.deepEqual(tally(answers), { 'allow:ok': 1, proof_replay: 199 });
    for (const r of answers) if (r.http_response === 'denied_response') assertDeny(r, 'proof_replay');

    const fresh = await Promise.all(Array.from({ length: 100 }, (_, i) => clients[i % clients.length]!.check(checkBytes(session(trust, first.passport)), 30_000)));
    assert.deepEqual(tally(fresh), { 'allow:ok': 100 });
    // The proof keys are in Redis (one per allowed proof), scoped to the passport.
    const keys = (await redis.command(['KEYS', 'trustplane:jti:*'])) as string[];
    assert.equal(keys.filter((k) => k !== 'trustplane:jti:generation').length, 101);
  });
});
