/**
 * The conformance gate (docs/conformance.md; `npm run conformance`, and part of `npm test`):
 * TypeScript, Python (conformance/python) and Go (conformance/go) sign the same generated requests.
 *
 * 1. With one shared passport, nonce and time per request, the three transcripts must be
 *    byte-identical, and so must the Ed25519 proofs (Ed25519 is deterministic; ES256 is not).
 * 2. Each language then mints its own passport with the issuer key and signs each request at the
 *    real time; the real server, over gRPC with Envoy-shaped requests, must allow every one.
 * 3. Tampered variants (method, path, query, a bound header, the body) are denied with the code the
 *    field-digest diagnosis predicts, and the genuine request is still allowed after them.
 *
 * The Python and Go toolchains come from Debian's packages (`python3-cryptography`, `golang-go`),
 * which .ci/run installs. Without them the gate is skipped, unless REQUIRE_CONFORMANCE=1 (set by
 * .ci/run), where a missing toolchain fails the run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPrivateJwk, generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import { issuePassport } from '../../core/src/passport.js';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import { signRequest } from '../../core/src/sign-request.js';
import { envoyCheckRequest, type EnvoyCheckInput } from '../support/envoy-api.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { nextSecond } from '../support/clock.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';
import { route } from '../support/world.js';
import { Verifier, trustplane } from '../../middleware/src/index.js';
import { METHODS, gateCases, type GateCase } from './cases.js';
import { toolchains } from './toolchains.js';

const ROUTE = 'conformance';
/** The server's default clock tolerance (docs/configuration.md `engine.clock_tolerance_s`). */
const CLOCK_TOLERANCE_S = 30;
const GO_DIR = join(PACKAGE_ROOT, 'conformance', 'go');
const PY_DIR = join(PACKAGE_ROOT, 'conformance', 'python');

interface Batch {
  keys: Record<string, unknown>;
  issuer_kid: string;
  issuer: string;
  cases: (GateCase & { route: string; nonce: string; ts: number; passport?: string; claims?: Record<string, unknown> })[];
}
interface Result {
  id: string;
  passport: string;
  proof: string;
  transcript: string;
}
type Signer = (batch: Batch) => Result[];

function runDriver(cmd: string, args: string[], batch: Batch, cwd: string): Result[] {
  const out = execFileSync(cmd, args, { cwd, input: JSON.stringify(batch), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(out) as { results: Result[] }).results;
}

/** The TypeScript signer: the SDK's core (core/src/sign-request.ts), in process. */
function tsSigner(keys: Record<string, SigningKey>): Signer {
  return (batch) =>
    batch.cases.map((c) => {
      const passport =
        c.passport ??
        issuePassport({
          key: keys[batch.issuer]!,
          issuer: c.claims!['iss'] as string,
          subject: c.claims!['sub'] as string,
          audience: c.claims!['aud'] as string,
          trustDomain: c.claims!['trust_domain'] as string,
          holder: keys[c.holder]!.publicJwk,
          keyBinding: 'software',
          jti: c.claims!['jti'] as string,
          lifetimeS: (c.claims!['exp'] as number) - (c.claims!['iat'] as number),
          nowMs: (c.claims!['iat'] as number) * 1000,
        });
      const s = signRequest(
        { method: c.method, authority: c.authority, pathAndQuery: c.path_and_query, headers: c.headers, body: Buffer.from(c.body_base64, 'base64') },
        { passport, holder: keys[c.holder]!, route: c.route, bindHeaders: c.bind_headers, nonce: c.nonce, nowMs: c.ts * 1000 },
      );
      return { id: c.id, passport, proof: s.headers['x-trustplane-proof'], transcript: s.transcript.bytes.toString('utf8') };
    });
}

function envoyShaped(c: GateCase, r: Result, over: Partial<GateCase> = {}): EnvoyCheckInput {
  const x = { ...c, ...over };
  const body = Buffer.from(x.body_base64, 'base64');
  return {
    method: x.method,
    authority: x.authority,
    path: x.path_and_query,
    scheme: 'https',
    // Envoy's HTTP/1 codec drops the optional whitespace around each field value (RFC 9112 §5), and
    // HTTP/2 forbids it (RFC 9113 §8.2.1): what reaches ext_authz is each occurrence trimmed.
    headers: [...x.headers.map(([n, v]) => [n, v.replace(/^[ \t]+|[ \t]+$/g, '')] as [string, string]), ['x-trustplane-passport', r.passport], ['x-trustplane-proof', r.proof]],
    body,
    withRequestBody: { maxRequestBytes: 1024 * 1024, packAsBytes: true },
    source: { address: '10.0.0.7', port: 51234 },
    time: new Date(),
  };
}

/**
 * The signed request over real HTTP/1.1, as a client library would put it on the wire: non-ASCII
 * characters of the target percent-encoded as UTF-8, header values sent as their UTF-8 bytes.
 * Resolves with the status and the deny reason, if any.
 */
function sendHttp(to: { host: string; port: number }, c: GateCase, r: Result): Promise<{ status: number; reason: string | undefined }> {
  const target = c.path_and_query.replace(/[^\x21-\x7e]/gu, (ch) => encodeURIComponent(ch));
  const utf8OnWire = (v: string): string => Buffer.from(v, 'utf8').toString('latin1');
  const headers: [string, string][] = [...c.headers.map(([n, v]) => [n, utf8OnWire(v)] as [string, string]), ['host', c.authority], ['x-trustplane-passport', r.passport], ['x-trustplane-proof', r.proof]];
  const body = Buffer.from(c.body_base64, 'base64');
  // Node frames a DELETE or OPTIONS body only with an explicit length (it chunks POST, PUT and PATCH).
  if (body.length > 0) headers.push(['content-length', String(body.length)]);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: to.host, port: to.port, method: c.method, path: target, headers: headers.flat() as unknown as Record<string, string> }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-trustplane-reason'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(body.length > 0 ? body : undefined);
  });
}

/** One tamper per field, each with the code the field-digest diagnosis (transcript-v1 §8) predicts. */
const TAMPERS: { field: string; reason: ReasonCode; applies: (c: GateCase) => boolean; change: (c: GateCase) => Partial<GateCase> }[] = [
  { field: 'method', reason: 'method_mismatch', applies: () => true, change: (c) => ({ method: c.method === 'PUT' ? 'PATCH' : 'PUT' }) },
  { field: 'path', reason: 'path_mismatch', applies: () => true, change: (c) => ({ path_and_query: c.path_and_query.replace('/v1/', '/v1/other/') }) },
  { field: 'query', reason: 'query_mismatch', applies: () => true, change: (c) => ({ path_and_query: `${c.path_and_query}${c.path_and_query.includes('?') ? '&' : '?'}tampered=1` }) },
  {
    field: 'bound header',
    reason: 'header_mismatch',
    applies: (c) => c.bind_headers.length > 0,
    change: (c) => ({ headers: c.headers.map(([n, v]) => [n, n.toLowerCase() === c.bind_headers[0] ? `${v}x` : v] as [string, string]) }),
  },
  { field: 'body', reason: 'body_mismatch', applies: (c) => Buffer.from(c.body_base64, 'base64').length > 0, change: (c) => ({ body_base64: Buffer.concat([Buffer.from(c.body_base64, 'base64'), Buffer.from('!')]).toString('base64') }) },
];

describe('conformance gate: TypeScript, Python and Go sign the same requests', function () {
  this.timeout(180_000);
  const tools = toolchains();
  const cases = gateCases();
  let t: TrustSetup;
  let holderP256: SigningKey;
  let server: InProcessServer;
  let client: CheckClient;
  let work: string;
  let verifier: Verifier;
  let service: Server;
  let serviceBase: { host: string; port: number };
  const signers: Record<string, Signer> = {};

  before(async function () {
    if (tools.missing.length > 0) {
      if (process.env.REQUIRE_CONFORMANCE === '1') throw new Error(`conformance gate: missing ${tools.missing.join('; ')}`);
      this.skip();
    }
    t = makeTrust('tp-conformance-');
    holderP256 = generateSigningKey('ES256');
    t.writeBundle(
      t.bundle({
        routes: [route(ROUTE, { match: { methods: [...METHODS], path: '/v1/**' } })],
      }),
    );
    server = await startInProcess(t, { log_level: 'warn', body: { envoy_buffers_body: true } });
    // The second enforcement point: the middleware inside a node:http service (docs/middleware.md).
    verifier = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath } });
    const mw = trustplane(verifier);
    service = createServer((req, res) => mw(req, res, () => res.end('ok')));
    service.listen(0, '127.0.0.1');
    await new Promise((resolve) => service.once('listening', resolve));
    serviceBase = { host: '127.0.0.1', port: (service.address() as AddressInfo).port };
    // The memory store's generation begins now: passports are dated the clock tolerance ahead (iat
    // below), so none can have been accepted before it (docs/configuration.md, "Replay store").
    await nextSecond();
    client = makeCheckClient(server.grpcAddress);
    work = mkdtempSync(join(tmpdir(), 'tp-conformance-go-'));
    const binary = join(work, 'tpsign');
    execFileSync(tools.go!, ['build', '-o', binary, './cmd/tpsign'], { cwd: GO_DIR, env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'tp-go-cache') } });
    signers['typescript'] = tsSigner({ issuer: t.issuerKey, holder_ed: t.holder, holder_p256: holderP256 });
    signers['python'] = (b) => runDriver(tools.python!, [join(PY_DIR, 'tpsign.py')], b, PY_DIR);
    signers['go'] = (b) => runDriver(binary, [], b, GO_DIR);
  });

  after(async () => {
    await new Promise((resolve) => (service ? service.close(resolve) : resolve(undefined)));
    await verifier?.close();
    client?.close();
    await server?.server.close();
    t?.dispose();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const keysJson = (): Record<string, unknown> => ({ issuer: exportPrivateJwk(t.issuerKey), holder_ed: exportPrivateJwk(t.holder), holder_p256: exportPrivateJwk(holderP256) });
  const claims = (jti: string, iat: number, holder: SigningKey): Record<string, unknown> => ({
    iss: ISSUER,
    sub: SUBJECT,
    aud: AUDIENCE,
    iat,
    exp: iat + 120,
    jti,
    trust_domain: TRUST_DOMAIN,
    // cnf.jwk carries the key members only (transcript-v1 §4.1): no kid, no alg.
    cnf: { jwk: holder.publicJwk.kty === 'OKP' ? { kty: 'OKP', crv: 'Ed25519', x: holder.publicJwk.x } : { kty: 'EC', crv: 'P-256', x: holder.publicJwk.x, y: holder.publicJwk.y } },
    key_binding: 'software',
  });

  it(`covers at least 50 requests, every method and both key types (${cases.length} cases)`, () => {
    assert.ok(cases.length >= 50);
    assert.deepEqual(new Set(cases.map((c) => c.method)), new Set(METHODS));
    assert.deepEqual(new Set(cases.map((c) => c.holder)), new Set(['holder_ed', 'holder_p256']));
  });

  it('gives byte-identical transcripts (and Ed25519 proofs) in all three languages', () => {
    const now = Math.floor(Date.now() / 1000);
    const batch: Batch = {
      keys: keysJson(),
      issuer_kid: t.issuerKey.kid,
      issuer: 'issuer',
      cases: cases.map((c, i) => {
        const holder = c.holder === 'holder_ed' ? t.holder : holderP256;
        const passport = issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: holder.publicJwk, keyBinding: 'software', jti: `cmp-${c.id}`, lifetimeS: 120, nowMs: now * 1000 });
        return { ...c, route: ROUTE, nonce: `cmp-nonce-${String(i).padStart(8, '0')}`, ts: now, passport };
      }),
    };
    const out = Object.fromEntries(Object.entries(signers).map(([lang, sign]) => [lang, sign(batch)]));
    const differ: string[] = [];
    for (const [i, c] of cases.entries()) {
      const ts = out['typescript']![i]!;
      for (const lang of ['python', 'go']) {
        const other = out[lang]![i]!;
        assert.equal(other.id, c.id);
        if (other.transcript !== ts.transcript) differ.push(`${c.id}: ${lang} transcript differs from TypeScript's`);
        if (c.holder === 'holder_ed' && other.proof !== ts.proof) differ.push(`${c.id}: ${lang} Ed25519 proof differs from TypeScript's`);
      }
    }
    assert.deepEqual(differ, []);
  });

  for (const lang of ['typescript', 'python', 'go']) {
    it(`${lang}: the real server allows every request it signed and denies each tampered variant with the predicted code; the middleware allows them too`, async () => {
      const now = Math.floor(Date.now() / 1000);
      const batch: Batch = {
        keys: keysJson(),
        issuer_kid: t.issuerKey.kid,
        issuer: 'issuer',
        cases: cases.map((c) => ({ ...c, route: ROUTE, nonce: randomBytes(18).toString('base64url'), ts: now, claims: claims(`${lang}-${c.id}-${randomBytes(4).toString('hex')}`, now + CLOCK_TOLERANCE_S, c.holder === 'holder_ed' ? t.holder : holderP256) })),
      };
      const results = signers[lang]!(batch);
      assert.equal(results.length, cases.length);
      let tampered = 0;
      for (const [i, c] of cases.entries()) {
        const r = results[i]!;
        const tamper = TAMPERS.filter((x) => x.applies(c))[i % TAMPERS.filter((x) => x.applies(c)).length]!;
        const deny = await client.check(envoyCheckRequest(envoyShaped(c, r, tamper.change(c))));
        assert.doesNotThrow(() => assertDeny(deny, tamper.reason), `${lang} ${c.id}: tampered ${tamper.field} should be ${tamper.reason}`);
        tampered++;
        const allow = await client.check(envoyCheckRequest(envoyShaped(c, r)));
        assertAllow(allow, ROUTE);
      }
      assert.equal(tampered, cases.length);
      // The same signed requests through the middleware, over real HTTP: its own replay store, so
      // each is fresh there, and each must be allowed.
      const refused: string[] = [];
      for (const [i, c] of cases.entries()) {
        const answer = await sendHttp(serviceBase, c, results[i]!);
        if (answer.status !== 200) refused.push(`${c.id}: ${answer.status} ${answer.reason ?? ''}`);
      }
      assert.deepEqual(refused, [], `${lang}: the middleware refused requests the ext_authz server allowed`);
    });
  }

  it('fails when one language changes one byte of one transcript (a deliberately altered copy)', () => {
    const now = Math.floor(Date.now() / 1000);
    const c = cases[3]!;
    const passport = issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', jti: 'altered', lifetimeS: 120, nowMs: now * 1000 });
    const batch: Batch = { keys: keysJson(), issuer_kid: t.issuerKey.kid, issuer: 'issuer', cases: [{ ...c, holder: 'holder_ed', route: ROUTE, nonce: 'altered-nonce-000001', ts: now, passport }] };
    const honest = signers['python']!(batch)[0]!;
    // The altered copy: the Python driver with its query canonicalisation sorting in reverse.
    const altered = execFileSync(
      tools.python!,
      ['-c', `import sys, runpy; sys.path.insert(0, ${JSON.stringify(PY_DIR)}); import trustplane_signer.transcript as t; orig = t.canonical_query; t.canonical_query = lambda q: "&".join(reversed(orig(q).split("&"))) if "&" in orig(q) else orig(q) + "x"; runpy.run_path(${JSON.stringify(join(PY_DIR, 'tpsign.py'))}, run_name="__main__")`],
      { input: JSON.stringify(batch), encoding: 'utf8' },
    );
    const changed = (JSON.parse(altered) as { results: Result[] }).results[0]!;
    const ts = signers['typescript']!(batch)[0]!;
    assert.equal(honest.transcript, ts.transcript);
    assert.notEqual(changed.transcript, ts.transcript, 'the gate must see a one-field change');
  });
});
