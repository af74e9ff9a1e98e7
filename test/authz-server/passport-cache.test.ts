/**
 * The verified-passport cache (core/src/engine/passport-cache.ts, docs/transcript-v1.md §15.4)
 * under the real decision engine, with real keys and bundles on a frozen clock: a cache hit decides
 * exactly what a full verification would, a new bundle is a new generation, and the bound holds.
 */
import assert from 'node:assert/strict';
import { compileBundle } from '../../core/src/bundle/compile.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../core/src/engine/options.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { readPassportClaims } from '../../core/src/sign-request.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import type { CompiledBundle } from '../../core/src/bundle/compile.js';
import { VerifiedPassportCache } from '../../core/src/engine/passport-cache.js';
import { NOW_MS, makeWorld, passport, route, signed, view, type World } from '../support/world.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { validateBundle } from '../../core/src/bundle/validate.js';
import { vectorRequestView, vectorSurroundings, type EnvoyRequest, type VectorEnvironment, type VectorFile } from '../../dev/vectors/format.js';

describe('verified-passport cache under the decision engine', () => {
  let w: World;
  let cache: VerifiedPassportCache;
  let options: EngineOptions;
  let store: MemoryReplayStore;

  beforeEach(() => {
    w = makeWorld({ routes: [route('payments-create', { bound_headers: ['content-type'], reusable_passport: { max_lifetime_s: 600 } })] });
    cache = new VerifiedPassportCache(3);
    options = { ...DEFAULT_ENGINE_OPTIONS, passportCache: cache };
    store = new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity });
  });

  const decide = async (token: string, bundle: CompiledBundle = w.bundle, nowMs = NOW_MS): Promise<ReasonCode> =>
    (await verifyRequest({ view: view(signed(w, {}, { passport: token, nowMs })), bundle, store, nowMs, options })).reason;

  it('stores a reusable passport once it verified and finds it again; never a per-request passport or a failure', async () => {
    const token = passport(w, { reusable: true, lifetimeS: 600 });
    assert.equal(await decide(token), 'ok');
    assert.deepEqual([cache.fills, cache.hits, cache.size], [1, 0, 1]);
    assert.equal(await decide(token), 'ok');
    assert.deepEqual([cache.fills, cache.hits], [1, 1]);
    assert.equal(await decide(passport(w)), 'ok');
    // A forged signature (the last character of the token changed) and an over-long lifetime are refused and not stored.
    const forged = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.slice(-1);
    assert.notEqual(forged, token);
    assert.equal(await decide(forged), 'passport_signature_invalid');
    assert.equal(await decide(passport(w, { reusable: true, lifetimeS: 3601 })), 'passport_lifetime_exceeded');
    assert.deepEqual([cache.fills, cache.size], [1, 1]);
  });

  it('treats another bundle as another generation: a key rotated out is passport_kid_unknown at once, a revocation passport_revoked', async () => {
    const token = passport(w, { reusable: true, lifetimeS: 600 });
    assert.equal(await decide(token), 'ok');
    assert.equal(await decide(token), 'ok');
    assert.equal(cache.hits, 1);
    const rotated = compileBundle({ ...w.doc, serial: 2, keys: w.doc.keys.filter((k) => k.kid !== w.issuerKey.kid) });
    assert.equal(await decide(token, rotated), 'passport_kid_unknown');
    assert.equal(cache.size, 0, 'the new generation emptied the cache');
    const revoked = compileBundle({ ...w.doc, serial: 3, revocations: { ...w.doc.revocations, jtis: [readPassportClaims(token).jti] } });
    assert.equal(await decide(token, revoked), 'passport_revoked');
    assert.equal(await decide(token, revoked), 'passport_revoked');
    assert.equal(cache.hits, 2, 'cached under the revoking bundle, and still refused: trust runs on every check');
  });

  it('applies the passport time rules on every hit: expired past exp + tolerance', async () => {
    const token = passport(w, { reusable: true, lifetimeS: 60 });
    assert.equal(await decide(token), 'ok');
    const tol = DEFAULT_ENGINE_OPTIONS.clockToleranceS;
    const exp = readPassportClaims(token).exp;
    assert.equal(await decide(token, w.bundle, exp * 1000 + tol * 1000 - 1), 'ok');
    assert.equal(await decide(token, w.bundle, exp * 1000 + tol * 1000), 'passport_expired');
    assert.equal(cache.hits, 2);
  });

  it('holds at most maxEntries, the oldest going first', async () => {
    const tokens = Array.from({ length: 5 }, () => passport(w, { reusable: true, lifetimeS: 600 }));
    for (const t of tokens) {
      assert.equal(await decide(t), 'ok');
      assert.ok(cache.size <= 3);
    }
    assert.deepEqual([cache.size, cache.fills], [3, 5]);
    assert.equal(await decide(tokens[0]!), 'ok');
    assert.equal(cache.fills, 6, 'the oldest was pushed out and verified again');
  });

  it('refuses a bound that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new VerifiedPassportCache(bad), /positive integer/);
  });
});

describe('verified-passport cache: every transcript-v1 vector decides the same with the cache warm', () => {
  const file = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'test', 'vectors', 'transcript-v1.json'), 'utf8')) as VectorFile;
  const checked = validateBundle(file.bundle);
  if (!checked.ok) throw new Error('vector bundle invalid');
  const bundle = compileBundle(checked.bundle);
  const nowMs = file.now * 1000;
  // One cache for all vectors, positives first: a reusable passport cached by reusable-get is then a
  // hit in every later vector that presents it (reusable-post, reusable-route-not-allowed, ...).
  const cache = new VerifiedPassportCache(1000);
  const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, passportCache: cache };

  /** Presents `r` (after `before` allowed presentations) to a fresh store, with the shared cache. */
  async function decideWith(r: EnvoyRequest, before: number, env: VectorEnvironment | undefined): Promise<ReasonCode> {
    const { bundle: inUse, store } = vectorSurroundings(env, bundle, nowMs);
    try {
      for (let i = 0; i < before; i++) assert.equal((await verifyRequest({ view: vectorRequestView(r), bundle: inUse, store, nowMs, options })).reason, 'ok');
      return (await verifyRequest({ view: vectorRequestView(r), bundle: inUse, store, nowMs, options })).reason;
    } finally {
      await store.close();
    }
  }

  it('gives each vector its expected reason twice (filling, then from the cache), and the cache was used', async () => {
    for (const v of file.positive) for (let round = 0; round < 2; round++) assert.equal(await decideWith(v.request, 0, undefined), 'ok', `${v.id} round ${round}`);
    for (const v of file.negative) {
      for (let round = 0; round < 2; round++) assert.equal(await decideWith(v.request, v.presentations_before ?? 0, v.environment), v.reason, `${v.id} round ${round}`);
    }
    assert.ok(cache.fills >= 1 && cache.hits >= 4, `fills ${cache.fills}, hits ${cache.hits}`);
  });
});
