import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../authz-server/src/config.js';
import { parseBrokerConfig } from '../../broker/src/config.js';
import { findRepoRoot } from '../support/envoy-config-validator.js';
import { AUTHZ, WASM, asArray, asObject } from './contract.js';

// Static checks of the docker-compose lab (there is no Docker engine here): structure, references
// between services, the files it mounts, and the image the Dockerfile builds.

type Obj = Record<string, unknown>;
const repo = findRepoRoot();
const MIN_ENVOY: readonly [number, number] = [1, 35]; // PluginConfig.allow_on_headers_stop_iteration

function readRepo(file: string): string {
  return readFileSync(join(repo, file), 'utf8');
}

// Compose resolves YAML merge keys (<<) and aliases; so must we.
const compose = asObject(parse(readRepo('docker-compose.yml'), { merge: true }), 'docker-compose.yml');
const services = asObject(compose['services'], 'services');

function service(name: string): Obj {
  return asObject(services[name], `service ${name}`);
}

interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  readonly bind: boolean;
}

function mounts(name: string): Mount[] {
  const volumes = service(name)['volumes'];
  if (volumes === undefined) return [];
  return asArray(volumes, `${name} volumes`).map((v) => {
    const [source = '', target = '', mode] = String(v).split(':');
    return { source, target, readOnly: mode === 'ro', bind: source.startsWith('.') || source.startsWith('/') };
  });
}

function mountAt(name: string, target: string): Mount {
  const found = mounts(name).find((m) => m.target === target);
  assert.ok(found !== undefined, `${name} mounts nothing at ${target}`);
  return found;
}

function command(name: string): string[] {
  return asArray(service(name)['command'], `${name} command`).map(String);
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

function dependsOn(name: string): Obj {
  const deps = service(name)['depends_on'];
  return deps === undefined ? {} : asObject(deps, `${name} depends_on`);
}

/** The repo file a bind mount at `target` in `name` brings in. */
function boundFile(name: string, target: string): string {
  const mount = mountAt(name, target);
  assert.ok(mount.bind, `${name}:${target} is not a bind mount`);
  return posix.normalize(mount.source);
}

function envoyBootstrap(): Obj {
  const config = flag(command('envoy'), '-c');
  assert.ok(config !== undefined, 'envoy runs without -c');
  return asObject(parse(readRepo(boundFile('envoy', config))), 'envoy config');
}

function envoyClusterEndpoints(clusterName: string): { address: string; port: number }[] {
  const clusters = asArray(asObject(envoyBootstrap()['static_resources'], 'sr')['clusters'], 'clusters');
  const cluster = clusters.map((c) => asObject(c, 'cluster')).find((c) => c['name'] === clusterName);
  assert.ok(cluster !== undefined, `envoy config has no cluster ${clusterName}`);
  const endpoints = asArray(asObject(cluster['load_assignment'], 'la')['endpoints'], 'endpoints');
  return endpoints.flatMap((e) =>
    asArray(asObject(e, 'e')['lb_endpoints'], 'lb').map((lb) => {
      const sa = asObject(
        asObject(asObject(asObject(lb, 'lb')['endpoint'], 'endpoint')['address'], 'address')['socket_address'],
        'sa',
      );
      return { address: String(sa['address']), port: Number(sa['port_value']) };
    }),
  );
}

function serverYamlOf(name: string): Obj {
  return asObject(parse(readRepo(boundFile(name, AUTHZ.serverConfigPath))), `${name} server.yaml`);
}

const AUTHZ_REPLICAS = ['authz-a', 'authz-b'] as const;

describe('docker-compose lab (docker-compose.yml)', () => {
  describe('structure', () => {
    it('has the lab services', () => {
      assert.deepEqual(Object.keys(services).sort(), [
        'authz-a',
        'authz-b',
        'broker',
        'bundle-init',
        'caller',
        'echo',
        'envoy',
        'redis',
        'wasm-init',
      ]);
    });

    it('gives every service an image, and builds local images from a Dockerfile that exists', () => {
      for (const [name, raw] of Object.entries(services)) {
        const s = asObject(raw, name);
        assert.ok(typeof s['image'] === 'string' || s['build'] !== undefined, `${name} has neither image nor build`);
        if (s['build'] !== undefined) {
          const build = asObject(s['build'], `${name} build`);
          const context = join(repo, String(build['context']));
          assert.ok(statSync(context).isDirectory(), `${name}: build context ${String(build['context'])} is missing`);
          assert.ok(existsSync(join(context, String(build['dockerfile'] ?? 'Dockerfile'))), `${name}: Dockerfile missing`);
        }
      }
    });

    it('depends only on services that exist, with conditions those services can meet', () => {
      for (const name of Object.keys(services)) {
        for (const [target, raw] of Object.entries(dependsOn(name))) {
          assert.ok(target in services, `${name} depends on unknown service ${target}`);
          const condition = asObject(raw, `${name} -> ${target}`)['condition'];
          assert.ok(
            ['service_started', 'service_healthy', 'service_completed_successfully'].includes(String(condition)),
            `${name} -> ${target}: condition ${String(condition)}`,
          );
          if (condition === 'service_healthy') {
            assert.ok(service(target)['healthcheck'] !== undefined, `${target} has no healthcheck for ${name} to wait on`);
          }
          if (condition === 'service_completed_successfully') {
            assert.equal(service(target)['restart'], 'no', `${target} is one-shot and must not restart`);
          }
        }
      }
    });

    it('mounts only repository files that exist and named volumes that are declared', () => {
      const declared = Object.keys(asObject(compose['volumes'], 'volumes'));
      for (const name of Object.keys(services)) {
        for (const mount of mounts(name)) {
          if (mount.bind) {
            assert.ok(mount.source.startsWith('./'), `${name}: ${mount.source} is not inside the repository`);
            assert.ok(existsSync(join(repo, mount.source)), `${name}: ${mount.source} does not exist`);
          } else {
            assert.ok(declared.includes(mount.source), `${name}: volume ${mount.source} is not declared`);
          }
        }
      }
    });

    it('publishes Envoy on loopback only', () => {
      assert.deepEqual(service('envoy')['ports'], ['127.0.0.1:10000:10000']);
    });
  });

  describe('Envoy', () => {
    it('uses an official Envoy image of a version with allow_on_headers_stop_iteration', () => {
      const image = String(service('envoy')['image']);
      const m = /^envoyproxy\/envoy:v(\d+)\.(\d+)\.(\d+)$/.exec(image);
      assert.ok(m !== null, `${image} is not a pinned official envoyproxy/envoy:vX.Y.Z image`);
      const [major, minor] = [Number(m[1]), Number(m[2])];
      assert.ok(major > MIN_ENVOY[0] || (major === MIN_ENVOY[0] && minor >= MIN_ENVOY[1]), `${image} is older than 1.35`);
    });

    it('runs envoy/envoy.yaml', () => {
      const config = flag(command('envoy'), '-c') as string;
      assert.equal(boundFile('envoy', config), 'envoy/envoy.yaml');
    });

    it('finds the .wasm where envoy.yaml loads it, copied from the image by wasm-init', () => {
      const wasmDir = posix.dirname(WASM.containerPath);
      const envoyMount = mountAt('envoy', wasmDir);
      assert.ok(!envoyMount.bind && envoyMount.readOnly);
      const [cp, from, to] = command('wasm-init');
      assert.equal(cp, 'cp');
      assert.equal(from, `/app/${WASM.buildPath}`);
      const initMount = mountAt('wasm-init', posix.dirname(String(to)));
      assert.equal(initMount.source, envoyMount.source, 'wasm-init and envoy must share the volume');
      assert.equal(posix.basename(String(to)), posix.basename(WASM.containerPath));
      assert.equal(dependsOn('envoy')['wasm-init'] !== undefined, true);
    });

    it('sends checks to both authz replicas on the gRPC port and traffic to the echo service', () => {
      assert.deepEqual(
        envoyClusterEndpoints('trustplane_authz'),
        AUTHZ_REPLICAS.map((address) => ({ address, port: AUTHZ.grpcPort })),
      );
      const [echo] = envoyClusterEndpoints('echo_upstream');
      assert.ok(echo !== undefined && echo.address in services);
      assert.equal(flag(command(echo.address), '--port'), String(echo.port));
    });
  });

  describe('authz-server replicas', () => {
    it('run the server command with the contract config path', () => {
      for (const name of AUTHZ_REPLICAS) {
        assert.deepEqual(command(name), [...AUTHZ.cli, 'server', '--config', AUTHZ.serverConfigPath]);
      }
    });

    it('read a server.yaml the server config loader accepts', () => {
      for (const name of AUTHZ_REPLICAS) {
        const config = loadConfig({ file: serverYamlOf(name) });
        assert.equal(config.listen.grpc, `0.0.0.0:${AUTHZ.grpcPort}`);
        assert.equal(config.listen.http, `0.0.0.0:${AUTHZ.httpPort}`);
        assert.equal(config.bundle.allow_unsigned, false);
      }
    });

    it('share one Redis, which is a compose service on the port the URL names', () => {
      const urls = AUTHZ_REPLICAS.map((name) => {
        const replay = asObject(serverYamlOf(name)['replay'], 'replay');
        assert.equal(replay['store'], 'redis');
        return String(asObject(replay['redis'], 'redis')['url']);
      });
      assert.equal(new Set(urls).size, 1, `replicas use different Redis URLs: ${urls.join(', ')}`);
      const url = new URL(urls[0] as string);
      assert.equal(url.protocol, 'redis:');
      assert.ok(url.hostname in services, `${url.hostname} is not a compose service`);
      assert.equal(url.port, '6379');
      for (const name of AUTHZ_REPLICAS) assert.equal(asObject(dependsOn(name)['redis'], 'dep')['condition'], 'service_healthy');
    });

    it('mount the lab bundle where server.yaml reads it, after bundle-init wrote it', () => {
      for (const name of AUTHZ_REPLICAS) {
        const bundle = asObject(serverYamlOf(name)['bundle'], 'bundle');
        const dir = posix.dirname(String(bundle['path']));
        assert.equal(dir, AUTHZ.bundleDir);
        assert.equal(posix.dirname(String(bundle['signing_keys'])), dir);
        const mount = mountAt(name, dir);
        assert.ok(mount.readOnly);
        assert.equal(mount.source, mountAt('bundle-init', flag(command('bundle-init'), '--out') as string).source);
        assert.equal(asObject(dependsOn(name)['bundle-init'], 'dep')['condition'], 'service_completed_successfully');
      }
    });

    it('are health-checked on /readyz of the HTTP port', () => {
      for (const name of AUTHZ_REPLICAS) {
        const test = asArray(asObject(service(name)['healthcheck'], 'healthcheck')['test'], 'test').join(' ');
        assert.ok(test.includes(`http://127.0.0.1:${AUTHZ.httpPort}/readyz`), test);
      }
    });
  });

  describe('broker and caller', () => {
    it('run the broker with a broker.yaml its config parser accepts', () => {
      assert.deepEqual(command('broker'), [...AUTHZ.cli, 'broker', '--config', AUTHZ.brokerConfigPath]);
      const raw = parse(readRepo(boundFile('broker', AUTHZ.brokerConfigPath)));
      const config = parseBrokerConfig(raw);
      assert.equal(config.socketPath, AUTHZ.brokerSocket);
      assert.equal(config.httpListen?.port, AUTHZ.brokerHttpPort);
      assert.ok(config.keyFile?.startsWith(`${mountAt('broker', '/lab').target}/`), 'the broker key comes from lab-init');
    });

    it('share the broker socket directory between the broker and the caller', () => {
      const dir = posix.dirname(AUTHZ.brokerSocket);
      assert.equal(mountAt('broker', dir).source, mountAt('caller', dir).source);
      assert.equal(flag(command('caller'), '--broker-socket'), AUTHZ.brokerSocket);
    });

    it('runs the demo against Envoy on its listener port', () => {
      const args = command('caller');
      assert.deepEqual(args.slice(0, 3), [...AUTHZ.cli, 'demo']);
      assert.equal(flag(args, '--target'), 'http://envoy:10000');
      assert.equal(asObject(dependsOn('caller')['broker'], 'dep')['condition'], 'service_healthy');
    });

    it('runs the echo upstream from the same image', () => {
      assert.deepEqual(command('echo'), [...AUTHZ.cli, 'echo', '--port', '8080']);
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = readRepo('Dockerfile');
  const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const stages = lines.reduce<string[][]>((acc, line) => {
    if (/^FROM\s/i.test(line)) acc.push([]);
    acc.at(-1)?.push(line);
    return acc;
  }, []);
  const final = stages.at(-1) ?? [];

  it('is multi-stage: build with dev dependencies, then a smaller runtime stage', () => {
    assert.ok(stages.length >= 2);
    // --ignore-scripts: package.json's `prepare` builds, and the sources are copied only after the install.
    assert.ok(stages[0]?.some((l) => /^RUN npm ci --ignore-scripts$/.test(l)));
    assert.ok(stages[0]?.some((l) => /^RUN npm run build:image$/.test(l)), "the build runs npm run build:image (product TypeScript and wasm)");
  });

  it('installs production dependencies only in the final image', () => {
    assert.ok(final.some((l) => /^RUN npm ci --omit=dev --ignore-scripts\b/.test(l)));
    assert.ok(!final.some((l) => /^RUN npm ci$/.test(l)));
  });

  it('copies the build output, protos and the wasm filter into /app', () => {
    for (const part of ['dist', 'protos', 'wasm-filter/build']) {
      assert.ok(final.some((l) => l === `COPY --from=build /src/${part} ./${part}`), `no COPY of ${part}`);
    }
    assert.ok(final.some((l) => l === 'WORKDIR /app'));
  });

  it('runs as a non-root user', () => {
    const user = final.filter((l) => /^USER\s/.test(l)).at(-1);
    assert.ok(user !== undefined, 'no USER in the final stage');
    assert.ok(!/^USER\s+(root|0)(:|$)/.test(user), user);
  });

  it('keeps in the build context what the build needs, and leaves out local build output', () => {
    const ignored = readRepo('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const needed of ['package.json', 'package-lock.json', 'core', 'authz-server', 'broker', 'cli', 'sdk', 'protos', 'scripts', 'wasm-filter']) {
      assert.ok(!ignored.includes(needed), `.dockerignore excludes ${needed}`);
    }
    for (const excluded of ['node_modules', 'dist', 'wasm-filter/build', '.git']) {
      assert.ok(ignored.includes(excluded), `.dockerignore should exclude ${excluded}`);
    }
  });
});
