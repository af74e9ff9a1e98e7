import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, loadBrokerConfig, parseBrokerConfig } from '../../broker/src/config.js';
import { ConfigError } from '../../service/src/config.js';
import { gidOfGroup } from '../../broker/src/lib/group.js';
import { BrokerKeyError, loadSigningKey } from '../../broker/src/signing-key.js';
import { exportPrivateJwk, generateSigningKey, jwkThumbprint } from '../../core/src/keys.js';
import { otherRealGroup } from './harness.js';

function problemsOf(raw: unknown): readonly string[] {
  try {
    parseBrokerConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('broker config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-broker-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fills every default from one table and freezes the result', () => {
    const c = parseBrokerConfig({});
    assert.equal(c.socketPath, DEFAULTS.socket_path);
    assert.equal(c.issuer, DEFAULTS.issuer);
    assert.equal(c.trustDomain, DEFAULTS.trust_domain);
    assert.equal(c.maxBodyBytes, 65_536);
    assert.equal(c.defaultLifetimeS, 60);
    assert.equal(c.maxLifetimeS, 300);
    assert.equal(c.keyFile, undefined);
    assert.equal(c.spiffe, undefined);
    assert.equal(c.socketGroup, undefined);
    assert.deepEqual(c.software, { enabled: true, subject: DEFAULTS.software.subject, allowedSubjects: [] });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.software));
  });

  it('reads the reusable section: subjects required, max_lifetime_s defaults to max_lifetime_s, problems named', () => {
    const c = parseBrokerConfig({ max_lifetime_s: 120, reusable: { subjects: ['urn:example:*'] } });
    assert.deepEqual({ ...c.reusable }, { subjects: ['urn:example:*'], maxLifetimeS: 120 });
    assert.equal(parseBrokerConfig({}).reusable, undefined);
    assert.deepEqual(problemsOf({ reusable: { subjects: [], max_lifetime_s: 3601, reuse: true } }), [
      'reusable.reuse: unknown setting',
      'reusable.subjects: required, at least one subject pattern (who may get reusable passports)',
      'reusable.max_lifetime_s: must be an integer from 1 to 3600',
    ]);
    // A reusable request without lifetime_s gets default_lifetime_s, so the reusable bound cannot be below it.
    assert.deepEqual(problemsOf({ default_lifetime_s: 60, reusable: { subjects: ['urn:example:*'], max_lifetime_s: 30 } }), [
      'reusable.max_lifetime_s: must not be below default_lifetime_s (the lifetime of a reusable passport asked for without lifetime_s)',
    ]);
    assert.equal(parseBrokerConfig({ default_lifetime_s: 30, reusable: { subjects: ['urn:example:*'], max_lifetime_s: 30 } }).reusable?.maxLifetimeS, 30);
  });

  it('reports every problem at once, unknown keys included', () => {
    const problems = problemsOf({
      socket_pat: '/tmp/x',
      socket_group: 'no-such-group-tp',
      issuer: 'not a uri',
      max_body_bytes: 10,
      default_lifetime_s: 600,
      max_lifetime_s: 120,
      software: { enabled: 'yes', colour: 1 },
      spiffe: { trust_domain: 'Example.ORG', attested: true },
    });
    for (const needle of ['socket_pat: unknown setting', 'socket_group: no group named "no-such-group-tp"', 'issuer:', 'max_body_bytes:', 'default_lifetime_s:', 'software.enabled:', 'software.colour: unknown setting', 'spiffe.trust_domain:', 'spiffe.bundle_file:', 'spiffe.attested: unknown setting']) {
      assert.ok(problems.some((p) => p.startsWith(needle)), `${needle} missing from ${JSON.stringify(problems)}`);
    }
  });

  it('takes the trust domain from the spiffe section when none is set, and resolves paths against the file', () => {
    const file = join(dir, 'broker.yaml');
    writeFileSync(file, 'socket_path: run/broker.sock\nspiffe:\n  trust_domain: example.org\n  bundle_file: roots.pem\n');
    const c = loadBrokerConfig(file, { issuer: 'https://broker.example.org', spiffe: { attested_trust_entry: true } });
    assert.equal(c.trustDomain, 'example.org');
    assert.equal(c.socketPath, join(dir, 'run', 'broker.sock'));
    assert.equal(c.spiffe?.bundleFile, join(dir, 'roots.pem'));
    assert.equal(c.spiffe?.attestedTrustEntry, true);
    assert.equal(c.issuer, 'https://broker.example.org');
  });

  it('refuses YAML with duplicate keys, and a file that is not YAML, naming the file', () => {
    const file = join(dir, 'dup.yaml');
    writeFileSync(file, 'issuer: https://a\nissuer: https://b\n');
    assert.throws(() => loadBrokerConfig(file), (e: unknown) => e instanceof ConfigError && e.problems[0]!.startsWith(file));
    writeFileSync(file, 'issuer: [https://a\n');
    assert.throws(() => loadBrokerConfig(file), (e: unknown) => e instanceof ConfigError && e.problems[0]!.startsWith(file));
    writeFileSync(file, '- a list\n');
    assert.throws(() => loadBrokerConfig(file), (e: unknown) => e instanceof ConfigError && e.problems[0] === 'the configuration file must hold a mapping at the top level');
  });

  it('resolves socket_group by name from /etc/group, and takes a number as a gid without looking it up', () => {
    const g = otherRealGroup();
    const byName = parseBrokerConfig({ socket_group: g.name });
    assert.deepEqual(byName.socketGroup, { gid: g.gid, name: g.name });
    assert.ok(Object.isFrozen(byName.socketGroup));
    assert.deepEqual(parseBrokerConfig({ socket_group: 54_321 }).socketGroup, { gid: 54_321 });
    assert.deepEqual(parseBrokerConfig({ socket_group: 0 }).socketGroup, { gid: 0 });
  });

  it('names an unknown socket_group in exactly one problem, and refuses values that are no group', () => {
    const problems = problemsOf({ socket_group: 'tp-no-such-group' });
    assert.deepEqual(problems, ['socket_group: no group named "tp-no-such-group" in /etc/group (a group known only to LDAP or SSSD can be given as a numeric gid)']);
    // A quoted number is a name, as in /etc/group itself; an unquoted one is a gid.
    assert.match(problemsOf({ socket_group: '54321' })[0]!, /^socket_group: no group named "54321"/);
    for (const bad of [-1, 1.5, 4_294_967_295, true, '', ['daemon'], { name: 'daemon' }]) {
      assert.deepEqual(problemsOf({ socket_group: bad }), ['socket_group: must be a group name or a numeric gid (0 to 4294967294)'], JSON.stringify(bad));
    }
  });

  it('needs key_file for generate_key, and something to issue with', () => {
    assert.ok(problemsOf({ generate_key: true }).some((p) => p.startsWith('generate_key:')));
    assert.ok(problemsOf({ software: { enabled: false } }).some((p) => p.startsWith('software.enabled:')));
  });
});

describe('broker signing key', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-broker-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates an Ed25519 key into a new 0600 file, and loads the same key next time', () => {
    const keyFile = join(dir, 'broker.jwk');
    const a = loadSigningKey({ keyFile, generateKey: true });
    assert.equal((statSync(keyFile).mode & 0o777).toString(8), '600');
    assert.equal(a.alg, 'EdDSA');
    assert.equal(a.kid, jwkThumbprint(a.publicJwk));
    const b = loadSigningKey({ keyFile, generateKey: false });
    assert.equal(b.kid, a.kid);
  });

  it('uses the thumbprint as kid whatever kid the file says', () => {
    const keyFile = join(dir, 'broker.jwk');
    const k = generateSigningKey('EdDSA');
    writeFileSync(keyFile, JSON.stringify({ ...exportPrivateJwk(k), kid: 'chosen-by-hand' }), { mode: 0o600 });
    assert.equal(loadSigningKey({ keyFile, generateKey: false }).kid, jwkThumbprint(k.publicJwk));
  });

  it('refuses a missing file without generate_key, a key others can read, and a public JWK', () => {
    const keyFile = join(dir, 'broker.jwk');
    assert.throws(() => loadSigningKey({ keyFile, generateKey: false }), (e: unknown) => e instanceof BrokerKeyError && /does not exist/.test(e.message));
    writeFileSync(keyFile, JSON.stringify(exportPrivateJwk(generateSigningKey('EdDSA'))), { mode: 0o600 });
    chmodSync(keyFile, 0o644);
    assert.throws(() => loadSigningKey({ keyFile, generateKey: false }), /group or others/);
    chmodSync(keyFile, 0o600);
    writeFileSync(keyFile, JSON.stringify(generateSigningKey('EdDSA').publicJwk));
    assert.throws(() => loadSigningKey({ keyFile, generateKey: false }), (e: unknown) => e instanceof BrokerKeyError && /lacks "d"/.test(e.message));
  });
});

describe('/etc/group lookup', () => {
  const text = [
    '#old:x:5:',
    'root:x:0:',
    '',
    '+nisgroup:*:700:',
    '-blocked:*:701:',
    'broken:x:12a:',
    'broken:x:4294967295:',
    'broken:x:702:alice',
    'staff:x:50:alice,bob\r',
    'staff:x:51:',
    'short:x',
  ].join('\n');

  it('finds the first entry with the name and reads its gid', () => {
    assert.equal(gidOfGroup(text, 'root'), 0);
    assert.equal(gidOfGroup(text, 'staff'), 50);
  });

  it('skips comments, NIS entries, lines without a gid and gids that are no gid_t', () => {
    assert.equal(gidOfGroup(text, 'broken'), 702);
    assert.equal(gidOfGroup(text, 'nisgroup'), undefined);
    assert.equal(gidOfGroup(text, '+nisgroup'), undefined);
    assert.equal(gidOfGroup(text, 'blocked'), undefined);
    assert.equal(gidOfGroup(text, 'short'), undefined);
    assert.equal(gidOfGroup(text, '#old'), undefined);
    assert.equal(gidOfGroup(text, 'alice'), undefined);
  });
});
