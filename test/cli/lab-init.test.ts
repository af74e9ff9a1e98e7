/**
 * `trustplane lab-init` and the docker-compose lab agree: the files it writes are the ones
 * lab/server.yaml and lab/broker.yaml name, its routes are the ones envoy/envoy.yaml's
 * context_extensions name, its bundle trusts the broker lab/broker.yaml describes, and the demo tour
 * passes against a server, broker and gateway started on exactly that material.
 */
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadBrokerConfig, startBroker, type RunningBroker } from '../../broker/src/index.js';
import { loadConfig } from '../../authz-server/src/config.js';
import { createLogger } from '../../service/src/log.js';
import { startServer, type RunningServer } from '../../authz-server/src/server.js';
import { startEcho } from '../../gateway/src/echo.js';
import { startGateway, type RunningGateway } from '../../dev/gateway/gateway.js';
import type { BundleDocument } from '../../core/src/bundle/types.js';
import { importPrivateJwk } from '../../core/src/keys.js';
import { LAB } from '../../cli/src/lab.js';
import { BUFFER_LIMIT_BYTES, GATEWAY_ROUTES, WASM_CONFIGURATION, WASM_PATH } from '../../dev/stack.js';
import { runTour } from '../../cli/src/tour.js';
import { REPO_ROOT } from '../support/envoy-api.js';
import { cli, tempDir } from './cli-harness.js';

describe('trustplane lab-init and the docker-compose lab', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const lab = (f: string): string => join(t.dir, 'lab', f);
  const bundle = (): BundleDocument => JSON.parse(readFileSync(lab(LAB.files.bundle), 'utf8')) as BundleDocument;

  before(async () => {
    t = tempDir('tp-lab-init-');
    const r = await cli(['lab-init', '--out', 'lab'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^lab trust material in lab: bundle serial 1 \(routes payments-create, payments-read, uploads-create\)/);
  });
  after(() => t?.dispose());

  it('writes private keys 0600 in a 0700 folder and a bundle that verifies with the signing keys it wrote', async () => {
    assert.equal(statSync(join(t.dir, 'lab')).mode & 0o777, 0o700);
    for (const f of [LAB.files.brokerKey, LAB.files.issuerKey, LAB.files.holderKey, LAB.files.bundleSigningKey]) assert.equal(statSync(lab(f)).mode & 0o777, 0o600, f);
    const v = await cli(['bundle', 'verify', '--bundle', lab(LAB.files.bundle), '--signing-keys', lab(LAB.files.signingKeys)]);
    assert.equal(v.code, 0, v.stderr);
    const manifest = readFileSync(lab(LAB.files.manifest), 'utf8');
    for (const f of [LAB.files.brokerKey, LAB.files.issuerKey, LAB.files.holderKey, LAB.files.bundleSigningKey]) {
      const d = (JSON.parse(readFileSync(lab(f), 'utf8')) as { d: string }).d;
      assert.ok(!manifest.includes(d) && !readFileSync(lab(LAB.files.bundle), 'utf8').includes(d), `no private part of ${f} in public files`);
    }
  });

  it('keeps its keys and raises the serial when run again (the one-shot service runs on every up)', async () => {
    const before = bundle();
    const issuerKey = readFileSync(lab(LAB.files.issuerKey), 'utf8');
    const r = await cli(['lab-init', '--out', 'lab', '--json'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).bundle_serial, before.serial + 1);
    assert.equal(readFileSync(lab(LAB.files.issuerKey), 'utf8'), issuerKey);
    assert.deepEqual(bundle().keys, before.keys);
  });

  it('writes the files lab/server.yaml and lab/broker.yaml read', () => {
    const server = parseYaml(readFileSync(join(REPO_ROOT, 'lab', 'server.yaml'), 'utf8')) as { bundle: { path: string; signing_keys: string } };
    assert.equal(basename(server.bundle.path), LAB.files.bundle);
    assert.equal(basename(server.bundle.signing_keys), LAB.files.signingKeys);
    const broker = loadBrokerConfig(join(REPO_ROOT, 'lab', 'broker.yaml'));
    assert.equal(basename(broker.keyFile!), LAB.files.brokerKey);
    assert.equal(broker.generateKey, false, 'the broker must use the key lab-init wrote and the bundle trusts');
  });

  it('trusts the broker lab/broker.yaml describes, for the subject it issues to, and no more than software', () => {
    const broker = loadBrokerConfig(join(REPO_ROOT, 'lab', 'broker.yaml'));
    const brokerKid = importPrivateJwk(JSON.parse(readFileSync(lab(LAB.files.brokerKey), 'utf8'))).kid;
    const entry = bundle().keys.find((k) => k.kid === brokerKid);
    assert.ok(entry, 'the broker key is in the bundle');
    assert.equal(entry.issuer, broker.issuer);
    assert.equal(entry.trust_domain, broker.trustDomain);
    assert.equal(entry.max_key_binding, broker.spiffe?.attestedTrustEntry ? 'attested_workload' : 'software');
    for (const route of bundle().routes) {
      assert.ok(route.allowed_sources.some((s) => s.issuer === broker.issuer && s.subject === broker.software.subject), `${route.id} admits the broker's software subject`);
    }
  });

  it('has exactly the routes envoy/envoy.yaml names in context_extensions', () => {
    const envoy = readFileSync(join(REPO_ROOT, 'envoy', 'envoy.yaml'), 'utf8');
    const ids = [...envoy.matchAll(/trustplane_route:\s*([a-z0-9._-]+)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(ids)].sort(), bundle().routes.map((r) => r.id).sort());
  });

  describe('the demo tour against a server, broker and gateway on the lab material', () => {
    let server: RunningServer;
    let broker: RunningBroker;
    let echo: Awaited<ReturnType<typeof startEcho>>;
    let gateway: RunningGateway;

    before(async () => {
      server = await startServer(
        loadConfig({
          overrides: {
            'listen.grpc': '127.0.0.1:0',
            'listen.http': '127.0.0.1:0',
            'bundle.path': lab(LAB.files.bundle),
            'bundle.signing_keys': lab(LAB.files.signingKeys),
            'body.filter_header.trusted': true,
            'audit.sink': 'none',
            workers: 1,
          },
        }),
        // Not about amnesia: a store that forgot nothing, so the tour's first passports are served.
        { logger: createLogger('warn', () => {}), store: new MemoryReplayStore({ maxEntries: 1000, generationStartMs: -Infinity }) },
      );
      broker = await startBroker(
        loadBrokerConfig(join(REPO_ROOT, 'lab', 'broker.yaml'), { socket_path: join(t.dir, 'sock', 'broker.sock'), http_listen: '127.0.0.1:0', key_file: lab(LAB.files.brokerKey) }),
        { logger: createLogger('error', () => {}) },
      );
      echo = await startEcho();
      gateway = await startGateway({
        listen: '127.0.0.1:0',
        authz: server.grpcAddress,
        upstream: echo.url,
        routes: GATEWAY_ROUTES,
        wasm: { path: WASM_PATH, configuration: WASM_CONFIGURATION },
        statusOnError: 503,
        timeoutMs: 2000,
        bufferLimitBytes: BUFFER_LIMIT_BYTES,
      });
    });
    after(async () => {
      await gateway?.close();
      await echo?.close();
      await broker?.close();
      await server?.close();
    });

    it('behaves as every step expects, broker steps included', async () => {
      const key = (f: string) => importPrivateJwk(JSON.parse(readFileSync(lab(f), 'utf8')));
      const results = await runTour({ target: gateway.url, issuerKey: key(LAB.files.issuerKey), holderKey: key(LAB.files.holderKey), brokerSocket: broker.socketPath });
      assert.deepEqual(results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.status} ${r.reason}`), []);
      assert.ok(results.some((r) => r.name.includes('broker')), 'the broker steps ran');
    });
  });
});
