import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, ENV_KEYS, loadConfig } from '../../authz-server/src/config.js';
import { ConfigError } from '../../service/src/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  assert.fail('expected a ConfigError');
}

describe('server configuration', () => {
  it('fills every default and freezes the result', () => {
    const c = loadConfig({ file: { bundle: { path: '/b.json', signing_keys: '/k.json' } } });
    assert.equal(c.listen.grpc, DEFAULTS.listen.grpc);
    assert.equal(c.replay.store, 'memory');
    assert.equal(c.replay.memory.max_entries, 1_000_000);
    assert.equal(c.body.filter_header.name, 'x-trustplane-body-sha256');
    assert.equal(c.mode, 'enforce');
    assert.equal(c.audit.flush_interval_ms, 10);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.replay.memory));
  });
  it('reports every problem at once, naming each setting', () => {
    const got = problems(() =>
      loadConfig({ file: { lisen: {}, workers: 0, mode: 'audit', audit: { flush_interval_ms: 5000 }, replay: { store: 'redis', redis: { url: 'http://x' } }, bundle: {} } }),
    );
    assert.deepEqual([...got].sort(), [
      'audit.flush_interval_ms: must be an integer from 0 to 1000',
      'bundle.path: required (or run with --dev for a generated development bundle)',
      'bundle.signing_keys: required unless bundle.allow_unsigned is true (development only)',
      'lisen: unknown setting',
      'mode: must be one of enforce, dry_run',
      'replay.redis.url: must start with redis:// or rediss://',
      'workers: must be an integer from 1 to 64',
    ]);
  });
  it('lets environment override the file and flags override both', () => {
    const c = loadConfig({
      file: { bundle: { path: '/file.json', allow_unsigned: true }, mode: 'enforce' },
      env: { TRUSTPLANE_BUNDLE_PATH: '/env.json', TRUSTPLANE_MODE: 'dry_run', TRUSTPLANE_REDIS_URL: 'redis://r:6379', TRUSTPLANE_REPLAY_STORE: 'redis' },
      overrides: { 'bundle.path': '/flag.json' },
    });
    assert.equal(c.bundle.path, '/flag.json');
    assert.equal(c.mode, 'dry_run');
    assert.equal(c.replay.redis?.url, 'redis://r:6379');
  });
  it('requires exactly one Redis topology and a name with sentinels', () => {
    const got = problems(() =>
      loadConfig({ file: { bundle: { path: '/b', allow_unsigned: true }, replay: { store: 'redis', redis: { sentinels: [{ host: 'a', port: 1 }] } } } }),
    );
    assert.deepEqual(got, ['replay.redis.name: required with sentinels (the master group name)']);
    const none = problems(() => loadConfig({ file: { bundle: { path: '/b', allow_unsigned: true }, replay: { store: 'redis' } } }));
    assert.deepEqual(none, ['replay.redis: set exactly one of url, sentinels (+ name), cluster.nodes']);
  });
  it('gives Redis Cluster a hash-tagged key prefix, refuses one without a tag, and reads assume_noeviction', () => {
    const base = { bundle: { path: '/b', allow_unsigned: true } };
    const cluster = loadConfig({ file: { ...base, replay: { store: 'redis', redis: { cluster: { nodes: [{ host: 'a', port: 1 }] } } } } });
    assert.equal(cluster.replay.redis?.key_prefix, '{trustplane}:jti:');
    assert.equal(cluster.replay.redis?.assume_noeviction, false);
    const untagged = problems(() => loadConfig({ file: { ...base, replay: { store: 'redis', redis: { cluster: { nodes: [{ host: 'a', port: 1 }] }, key_prefix: 'tp:jti:' } } } }));
    assert.deepEqual(untagged, ['replay.redis.key_prefix: with cluster it must carry a hash tag such as {trustplane}, so the generation marker and the replay keys share a slot']);
    const assumed = loadConfig({ file: { ...base, replay: { store: 'redis', redis: { url: 'redis://r:6379', assume_noeviction: true } } } });
    assert.equal(assumed.replay.redis?.key_prefix, 'trustplane:jti:');
    assert.equal(assumed.replay.redis?.assume_noeviction, true);
  });
  it('documents every setting, default and environment variable in docs/configuration.md', () => {
    const doc = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
    for (const name of Object.keys(ENV_KEYS)) assert.ok(doc.includes(`\`${name}\``), `${name} missing from docs`);
    for (const key of ['listen.grpc', 'bundle.path', 'replay.redis.command_timeout_ms', 'replay.redis.assume_noeviction', 'body.filter_header.trusted', 'shutdown_grace_ms', 'engine.clock_tolerance_s', 'audit.flush_interval_ms']) {
      assert.ok(doc.includes(`\`${key}\``), `${key} missing from docs`);
    }
    assert.ok(doc.includes(`\`${DEFAULTS.listen.grpc}\``));
    assert.ok(doc.includes(`\`${DEFAULTS.redis.command_timeout_ms}\``));
  });
});
