/**
 * `trustplane sign` and `request` with reusable passports (docs/cli.md, docs/transcript-v1.md §15):
 * `--reusable` from a local issuer key and from a real broker, `--passport-out` to keep the passport
 * and `--passport @FILE` to reuse it in a later run, `request --count N`, and the usage errors of
 * every combination that cannot work. The CLI runs as a child process; the requests go through the
 * development gateway (real wasm filter) to the real authz server over gRPC, whose verified-passport
 * cache counters show how many passports it verified in full.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBrokerConfig } from '../../broker/src/config.js';
import { startBroker, type RunningBroker } from '../../broker/src/broker.js';
import { exportPrivateJwk, jwkThumbprint } from '../../core/src/keys.js';
import { issuePassport } from '../../core/src/passport.js';
import { REASONS } from '../../core/src/reasons.js';
import { readPassportClaims } from '../../core/src/sign-request.js';
import type { VerifiedPassportCache } from '../../core/src/engine/passport-cache.js';
import { startGateway, type RunningGateway } from '../../dev/gateway/gateway.js';
import { BUFFER_LIMIT_BYTES, WASM_CONFIGURATION, WASM_PATH } from '../../dev/stack.js';
import { startEcho } from '../../gateway/src/echo.js';
import { createLogger } from '../../service/src/log.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN, route } from '../support/world.js';
import { cli, tempDir } from './cli-harness.js';

describe('trustplane sign / request: reusable passports against a real server', function () {
  this.timeout(60_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let cache: VerifiedPassportCache;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let gateway: RunningGateway;
  let broker: RunningBroker;
  let t: ReturnType<typeof tempDir>;
  const run = (args: string[]) => cli(args, { cwd: t.dir });
  const file = (name: string): string => join(t.dir, name);
  const mint = ['--issuer-key', 'issuer.jwk', '--issuer', ISSUER, '--subject', SUBJECT, '--trust-domain', TRUST_DOMAIN, '--audience', AUDIENCE, '--holder-key', 'holder.jwk'];
  const sessions = (): string => `${gateway.url}/v1/sessions/7`;
  const counters = (): [number, number] => [cache.fills, cache.hits];
  /** The private parts of the keys the CLI read: never on its output. */
  let secrets: string[];
  const assertNoSecret = (r: { stdout: string; stderr: string }): void => {
    for (const d of secrets) assert.ok(!r.stdout.includes(d) && !r.stderr.includes(d), 'a private key was printed');
  };

  before(async () => {
    trust = makeTrust('tp-cli-reusable-');
    trust.writeBundle(
      trust.bundle({
        routes: [
          ...defaultRoutes(),
          route('sessions-read', { match: { methods: ['GET'], path: '/v1/sessions/*' }, body: { mode: 'empty', hash_source: 'filter' }, reusable_passport: { max_lifetime_s: 600 } }),
        ],
      }),
    );
    srv = await startInProcess(trust, { body: { filter_header: { trusted: true } } });
    cache = srv.server.passportCache as VerifiedPassportCache;
    assert.ok(cache, 'the server has its verified-passport cache');
    echo = await startEcho();
    gateway = await startGateway({
      listen: '127.0.0.1:0',
      authz: srv.grpcAddress,
      upstream: echo.url,
      routes: [
        { safeRegex: '/v1/sessions/[^/]+', methods: ['GET'], wasm: true, extAuthz: true, contextExtensions: { trustplane_route: 'sessions-read' } },
        { safeRegex: '/v1/payments/[^/]+', methods: ['GET'], wasm: true, extAuthz: true, contextExtensions: { trustplane_route: 'payments-read' } },
      ],
      wasm: { path: WASM_PATH, configuration: WASM_CONFIGURATION },
      statusOnError: 503,
      timeoutMs: 5000,
      bufferLimitBytes: BUFFER_LIMIT_BYTES,
    });
    t = tempDir('tp-cli-reusable-files-');
    writeFileSync(file('issuer.jwk'), JSON.stringify(exportPrivateJwk(trust.issuerKey)), { mode: 0o600 });
    writeFileSync(file('holder.jwk'), JSON.stringify(exportPrivateJwk(trust.holder)), { mode: 0o600 });
    secrets = [exportPrivateJwk(trust.issuerKey).d, exportPrivateJwk(trust.holder).d];
    // The broker signs with the issuer key the bundle trusts, and may issue reusable passports to its software subject.
    broker = await startBroker(
      parseBrokerConfig({
        socket_path: join(t.dir, 'run', 'broker.sock'),
        issuer: ISSUER,
        trust_domain: TRUST_DOMAIN,
        key_file: file('issuer.jwk'),
        software: { subject: SUBJECT },
        reusable: { subjects: [SUBJECT], max_lifetime_s: 600 },
      }),
      { logger: createLogger('error', () => {}) },
    );
  });

  after(async () => {
    await broker?.close();
    await gateway?.close();
    await echo?.close();
    await srv?.server.close();
    t?.dispose();
    trust?.dispose();
  });

  it('request --reusable --count 3 (issuer key): three allows over one passport the server verifies once, saved 0600 by --passport-out', async () => {
    const [fills, hits] = counters();
    const r = await run(['request', ...mint, '--route', 'sessions-read', '--reusable', '--lifetime', '600', '--passport-out', 'session.jwt', '--count', '3', sessions()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.match(/^HTTP 200 OK$/gm)?.length, 3, r.stdout);
    assert.deepEqual(counters(), [fills + 1, hits + 2], 'one passport, verified in full once, found in the cache twice');
    assert.equal(statSync(file('session.jwt')).mode & 0o777, 0o600);
    const claims = readPassportClaims(readFileSync(file('session.jwt'), 'utf8').trim());
    assert.equal(claims.reusable, true);
    assert.equal(claims.exp - claims.iat, 600);
    assert.equal(jwkThumbprint(claims.cnf.jwk), jwkThumbprint(trust.holder.publicJwk), 'bound to the holder key');
    assertNoSecret(r);
  });

  it('a later run reuses the saved passport with --passport @FILE: allowed, from the server cache, the same passport in sign', async () => {
    const [fills, hits] = counters();
    const r = await run(['request', '--passport', '@session.jwt', '--holder-key', 'holder.jwk', '--route', 'sessions-read', '--count', '2', '--json', sessions()]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { status: number }).status), [200, 200]);
    assert.deepEqual(counters(), [fills, hits + 2]);
    const s = await run(['sign', '--passport', '@session.jwt', '--holder-key', 'holder.jwk', '--route', 'sessions-read', '--json', sessions()]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal((JSON.parse(s.stdout) as { passport: string }).passport, readFileSync(file('session.jwt'), 'utf8').trim());
    assertNoSecret(s);
  });

  it('request --broker --reusable asks the broker for a reusable passport, saves it, and a second run reuses it', async () => {
    const [fills, hits] = counters();
    const viaBroker = ['--broker', broker.socketPath, '--audience', AUDIENCE, '--holder-key', 'holder.jwk', '--route', 'sessions-read'];
    const r = await run(['request', ...viaBroker, '--reusable', '--passport-out', 'broker.jwt', '--count', '2', sessions()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/^HTTP 200 OK$/gm)?.length, 2, r.stdout);
    const claims = readPassportClaims(readFileSync(file('broker.jwt'), 'utf8').trim());
    assert.deepEqual([claims.reusable, claims.iss, claims.sub], [true, ISSUER, SUBJECT]);
    const again = await run(['request', '--passport', '@broker.jwt', '--holder-key', 'holder.jwk', '--route', 'sessions-read', sessions()]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(counters(), [fills + 1, hits + 2]);
  });

  it('--reusable on a route without reusable_passport is denied passport_reuse_not_allowed (exit 1, one line)', async () => {
    for (const source of [mint, ['--broker', broker.socketPath, '--audience', AUDIENCE, '--holder-key', 'holder.jwk']]) {
      const r = await run(['request', ...source, '--route', 'payments-read', '--reusable', `${gateway.url}/v1/payments/7`]);
      assert.equal(r.code, 1);
      assert.equal(REASONS.passport_reuse_not_allowed.status, 403);
      assert.match(r.stdout, /^HTTP 403 Forbidden\n/);
      assert.equal(r.stderr, 'trustplane request: HTTP 403 (passport_reuse_not_allowed)\n');
    }
  });

  it('a --lifetime past the route\'s reusable_passport.max_lifetime_s is passport_lifetime_exceeded', async () => {
    const r = await run(['request', ...mint, '--route', 'sessions-read', '--reusable', '--lifetime', '601', sessions()]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `trustplane request: HTTP ${REASONS.passport_lifetime_exceeded.status} (passport_lifetime_exceeded)\n`);
  });

  it('--count without --reusable signs a fresh per-request passport for each request (none cached)', async () => {
    const before = counters();
    const r = await run(['request', ...mint, '--route', 'sessions-read', '--count', '2', sessions()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/^HTTP 200 OK$/gm)?.length, 2, r.stdout);
    assert.deepEqual(counters(), before, 'per-request passports are not cached');
  });

  it('--count stops at the first request that is not 2xx and names it', async () => {
    // Expired already: every request is denied, and only the first is sent.
    writeFileSync(
      file('expired.jwt'),
      issuePassport({ key: trust.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: trust.holder.publicJwk, keyBinding: 'software', lifetimeS: 60, reusable: true, nowMs: Date.now() - 600_000 }),
    );
    const r = await run(['request', '--passport', '@expired.jwt', '--holder-key', 'holder.jwk', '--route', 'sessions-read', '--count', '3', sessions()]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.match(/^HTTP /gm)?.length, 1, r.stdout);
    assert.equal(r.stderr, 'trustplane request: request 1 of 3: HTTP 401 (passport_expired)\n');
  });

  it('--passport-out refuses an existing file in one line, before any passport is obtained; --force replaces it', async () => {
    const saved = readFileSync(file('session.jwt'), 'utf8');
    const before = counters();
    const r = await run(['request', ...mint, '--route', 'sessions-read', '--reusable', '--passport-out', 'session.jwt', sessions()]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'trustplane request: --passport-out session.jwt exists already; refusing to replace it (pass --force to replace it)\n');
    assert.equal(r.stdout, '', 'nothing was sent');
    assert.equal(readFileSync(file('session.jwt'), 'utf8'), saved);
    const viaBroker = await run(['sign', '--broker', broker.socketPath, '--audience', AUDIENCE, '--holder-key', 'holder.jwk', '--route', 'sessions-read', '--reusable', '--passport-out', 'broker.jwt', sessions()]);
    assert.equal(viaBroker.code, 1);
    assert.equal(viaBroker.stderr, 'trustplane sign: --passport-out broker.jwt exists already; refusing to replace it (pass --force to replace it)\n');
    assert.deepEqual(counters(), before);
    // A broker that is not there: only a check made before the passport is asked for names the file.
    for (const command of ['sign', 'request']) {
      const early = await run([command, '--broker', file('no-broker.sock'), '--audience', AUDIENCE, '--holder-key', 'holder.jwk', '--route', 'sessions-read', '--reusable', '--passport-out', 'session.jwt', sessions()]);
      assert.equal(early.code, 1);
      assert.equal(early.stderr, `trustplane ${command}: --passport-out session.jwt exists already; refusing to replace it (pass --force to replace it)\n`);
    }
    const forced = await run(['sign', ...mint, '--route', 'sessions-read', '--reusable', '--passport-out', 'session.jwt', '--force', '--json', sessions()]);
    assert.equal(forced.code, 0, forced.stderr);
    const replaced = readFileSync(file('session.jwt'), 'utf8');
    assert.notEqual(replaced, saved);
    assert.equal(replaced.trim(), (JSON.parse(forced.stdout) as { passport: string }).passport);
    assert.equal(statSync(file('session.jwt')).mode & 0o777, 0o600);
  });

  it('refuses every combination that cannot work with one line (exit 2), before anything is obtained or sent', async () => {
    writeFileSync(file('per-request.jwt'), issuePassport({ key: trust.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: trust.holder.publicJwk, keyBinding: 'software' }));
    const given = ['--holder-key', 'holder.jwk', '--route', 'sessions-read'];
    const cases: Array<[string[], string]> = [
      [['request', '--passport', '@session.jwt', '--reusable', ...given, sessions()], 'trustplane request: --reusable goes with --issuer-key or --broker; a --passport is presented as it is\n'],
      [['sign', '--passport', '@session.jwt', '--passport-out', 'copy.jwt', ...given, sessions()], 'trustplane sign: --passport-out saves a passport this command obtains (--issuer-key or --broker with --reusable), not a --passport\n'],
      [['sign', ...mint, '--route', 'sessions-read', '--passport-out', 'new.jwt', sessions()], 'trustplane sign: --passport-out saves a reusable passport: give --reusable too\n'],
      [['request', ...mint, '--route', 'sessions-read', '--reusable', '--passport-out', 'holder.jwk', '--force', sessions()], 'trustplane request: --passport-out holder.jwk is the same file as --holder-key; give --passport-out another path\n'],
      [['sign', ...mint, '--route', 'sessions-read', '--reusable', '--passport-out', 'same.jwt', '--capture', 'same.jwt', sessions()], 'trustplane sign: --passport-out same.jwt is the same file as --capture; give --passport-out another path\n'],
      [['request', ...mint, '--route', 'sessions-read', '--reusable', '--passport-out', '-', sessions()], 'trustplane request: --passport-out needs a file path, not - (sign --json prints the passport)\n'],
      [['request', '--passport', '@per-request.jwt', ...given, '--count', '2', sessions()], 'trustplane request: --count 2 needs a reusable passport; the --passport one has no "reusable": true claim (each request after the first would be jti_replay)\n'],
      [['request', ...mint, '--route', 'sessions-read', '--count', '0', sessions()], 'trustplane request: --count must be an integer from 1 to 1000\n'],
      [['sign', '--passport', '@session.jwt', ...given, '--count', '2', sessions()], 'trustplane sign: unknown option --count\n'],
    ];
    const before = counters();
    for (const [args, stderr] of cases) {
      const r = await run(args);
      assert.deepEqual([r.code, r.stderr, r.stdout], [2, stderr, ''], args.join(' '));
    }
    assert.deepEqual(counters(), before, 'nothing reached the server');
    for (const f of ['copy.jwt', 'new.jwt', 'same.jwt']) assert.throws(() => statSync(file(f)), { code: 'ENOENT' }, f);
  });
});
