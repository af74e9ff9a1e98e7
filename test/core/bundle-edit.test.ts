import assert from 'node:assert/strict';
import {
  buildBundle,
  mergeSource,
  removeSource,
  signBundle,
  type AllowedSource,
  type BundleDocument,
  type Route,
  type TrustKey,
} from '../../core/src/bundle/index.js';
import { canonicalJson } from '../../core/src/encoding.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';

const NOW = 1_700_000_000;
const BUNDLE_SIGNER = generateSigningKey('EdDSA');
const PARTNER = generateSigningKey('EdDSA');
const PARTNER_2 = generateSigningKey('ES256');
const CLIENT = generateSigningKey('EdDSA');

function trustKey(k: SigningKey, issuer: string, td = 'partner.example'): TrustKey {
  return { kid: k.kid, issuer, trust_domain: td, max_key_binding: 'software', jwk: k.publicJwk };
}

const partnerSource: AllowedSource = { issuer: 'https://partner.example', trust_domain: 'partner.example', subject: 'spiffe://partner.example/**' };
const clientKey = trustKey(CLIENT, 'https://client.example', 'client.example');
const clientSource: AllowedSource = { issuer: 'https://client.example', trust_domain: 'client.example', subject: 'spiffe://client.example/billing', min_key_binding: 'software' };

function route(id: string, path: string, sources: AllowedSource[]): Route {
  return { id, match: { path }, audience: 'api', allowed_sources: sources, required_key_binding: 'software', freshness_class: 'bounded', bound_headers: [] };
}

function base(): BundleDocument {
  const r = buildBundle({
    serial: 10,
    issuedAt: NOW,
    expiresAt: NOW + 3600,
    keys: [trustKey(PARTNER, 'https://partner.example'), trustKey(PARTNER_2, 'https://partner.example')],
    routes: [route('orders', '/orders/**', [partnerSource]), route('reports', '/reports/**', [partnerSource]), route('health', '/health', [partnerSource])],
    revocations: { jtis: ['j-1'] },
  });
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  return signBundle(r.bundle, BUNDLE_SIGNER);
}

function ok(r: ReturnType<typeof mergeSource>): BundleDocument {
  assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.problems.join('; ')}`);
  return r.bundle;
}

describe('buildBundle', () => {
  it('builds an unsigned skeleton with serial 1 and empty revocation lists', () => {
    const b = ok(buildBundle({ issuedAt: NOW, expiresAt: NOW + 10 }));
    assert.deepEqual(b, {
      format: 'trustplane-bundle-v1',
      serial: 1,
      issued_at: NOW,
      expires_at: NOW + 10,
      keys: [],
      routes: [],
      revocations: { kids: [], jtis: [], subjects: [], cnf_thumbprints: [] },
    });
  });

  it('refuses to build an invalid document', () => {
    const r = buildBundle({ issuedAt: NOW, expiresAt: NOW });
    assert.deepEqual(r, { ok: false, code: 'bundle_invalid', problems: ['/expires_at: must be later than issued_at'] });
  });
});

describe('mergeSource', () => {
  it('appends the key and the rule to the named routes only, bumps the serial and drops the signature', () => {
    const before = base();
    const after = ok(mergeSource(before, { key: clientKey, routes: ['orders', 'reports'], source: clientSource }));
    assert.equal(after.serial, 11);
    assert.equal(after.signature, undefined);
    assert.deepEqual(after.keys, [...before.keys, clientKey]);
    assert.deepEqual(after.routes[0]!.allowed_sources, [partnerSource, clientSource]);
    assert.deepEqual(after.routes[1]!.allowed_sources, [partnerSource, clientSource]);
    assert.deepEqual(after.routes[2], before.routes[2]);
    assert.deepEqual(after.revocations, before.revocations);
    assert.equal(after.issued_at, before.issued_at);
    assert.equal(after.expires_at, before.expires_at);
  });

  it('is idempotent: merging the same client again changes nothing and keeps the signature', () => {
    const once = signBundle(ok(mergeSource(base(), { key: clientKey, routes: ['orders'], source: clientSource })), BUNDLE_SIGNER);
    const r = mergeSource(once, { key: clientKey, routes: ['orders'], source: clientSource });
    assert.ok(r.ok);
    assert.equal(r.changed, false);
    assert.equal(canonicalJson(r.bundle), canonicalJson(once));
  });

  it('treats the same key spelt without its optional JWK members as already trusted', () => {
    const once = ok(mergeSource(base(), { key: clientKey, routes: ['orders'], source: clientSource }));
    const bare = { ...clientKey, jwk: { kty: CLIENT.publicJwk.kty, crv: CLIENT.publicJwk.crv, x: CLIENT.publicJwk.x } };
    const r = mergeSource(once, { key: bare, routes: ['orders'], source: clientSource });
    assert.ok(r.ok);
    assert.equal(r.changed, false);
    const upgraded = mergeSource(once, { key: { ...clientKey, max_key_binding: 'remote_kms' }, routes: ['orders'], source: clientSource });
    assert.equal(upgraded.ok ? '' : upgraded.code, 'bundle_key_conflict');
  });

  it('adds only the missing part when the key is already trusted', () => {
    const once = ok(mergeSource(base(), { key: clientKey, routes: ['orders'], source: clientSource }));
    const r = mergeSource(once, { key: clientKey, routes: ['orders', 'health'], source: clientSource });
    const twice = ok(r);
    assert.ok(r.ok && r.changed);
    assert.equal(twice.keys.length, 3);
    assert.deepEqual(twice.routes[0]!.allowed_sources, [partnerSource, clientSource]);
    assert.deepEqual(twice.routes[2]!.allowed_sources, [partnerSource, clientSource]);
  });

  it('refuses a kid already trusted with a different key, and a key already trusted under another kid', () => {
    const other = generateSigningKey('EdDSA');
    const r1 = mergeSource(base(), { key: { ...clientKey, kid: PARTNER.kid, jwk: { ...other.publicJwk, kid: PARTNER.kid } }, routes: ['orders'], source: clientSource });
    assert.deepEqual(r1, { ok: false, code: 'bundle_key_conflict', problems: [`kid "${PARTNER.kid}" is already trusted with a different key, issuer, trust domain or binding`] });
    const r2 = mergeSource(base(), { key: { ...clientKey, kid: 'fresh', jwk: { ...PARTNER.publicJwk, kid: 'fresh' } }, routes: ['orders'], source: clientSource });
    assert.deepEqual(r2, { ok: false, code: 'bundle_key_conflict', problems: [`this public key is already trusted as kid "${PARTNER.kid}"`] });
  });

  it('refuses unknown routes, a rule for another issuer, and malformed input', () => {
    assert.deepEqual(mergeSource(base(), { key: clientKey, routes: ['orders', 'nope'], source: clientSource }), {
      ok: false,
      code: 'bundle_route_unknown',
      problems: ['route "nope" is not in the bundle'],
    });
    assert.deepEqual(mergeSource(base(), { key: clientKey, routes: ['orders'], source: partnerSource }), {
      ok: false,
      code: 'bundle_invalid',
      problems: ['source.issuer: must equal key.issuer', 'source.trust_domain: must equal key.trust_domain'],
    });
    const bad = mergeSource(base(), { key: clientKey, routes: ['orders'], source: { ...clientSource, subject: 'a**b' } });
    assert.deepEqual(bad, { ok: false, code: 'bundle_invalid', problems: ['/routes/0/allowed_sources/1/subject: "**" is only allowed as a final "/**"'] });
    const badBinding = mergeSource(base(), { key: { ...clientKey, max_key_binding: 'gold' as never }, routes: [], source: clientSource });
    assert.deepEqual(badBinding, { ok: false, code: 'bundle_invalid', problems: ['/keys/2/max_key_binding: must be one of software, remote_kms, hardware_local, attested_workload'] });
  });
});

describe('removeSource', () => {
  const withClient = (): BundleDocument => signBundle(ok(mergeSource(base(), { key: clientKey, routes: ['orders', 'reports'], source: clientSource })), BUNDLE_SIGNER);

  it('requires confirm: true', () => {
    assert.deepEqual(removeSource(withClient(), { kid: CLIENT.kid, confirm: false }), {
      ok: false,
      code: 'bundle_confirm_required',
      problems: ['removing trust material requires confirm: true (--confirm-remove)'],
    });
  });

  it('refuses an unknown kid', () => {
    assert.deepEqual(removeSource(withClient(), { kid: 'nope', confirm: true }), { ok: false, code: 'bundle_key_unknown', problems: ['kid "nope" is not in the bundle'] });
  });

  it('removes the key and the rules only it served, keeping everything else as it was', () => {
    const before = withClient();
    const after = ok(removeSource(before, { kid: CLIENT.kid, confirm: true }));
    const original = base();
    assert.equal(after.serial, before.serial + 1);
    assert.equal(after.signature, undefined);
    assert.deepEqual(after.keys, original.keys);
    assert.deepEqual(after.routes, original.routes);
    assert.deepEqual(after.revocations, original.revocations);
  });

  it('keeps the rules while another key of the same issuer and trust domain still serves them', () => {
    const after = ok(removeSource(base(), { kid: PARTNER.kid, confirm: true }));
    assert.deepEqual(after.keys.map((k) => k.kid), [PARTNER_2.kid]);
    assert.deepEqual(after.routes, base().routes);
  });

  it('appends the kid to revocations.kids with revoke', () => {
    const after = ok(removeSource(withClient(), { kid: CLIENT.kid, confirm: true, revoke: true }));
    assert.deepEqual(after.revocations, { kids: [CLIENT.kid], jtis: ['j-1'], subjects: [], cnf_thumbprints: [] });
  });

  it('refuses to leave a route with no allowed source', () => {
    const onlyPartner = ok(removeSource(base(), { kid: PARTNER.kid, confirm: true }));
    assert.deepEqual(removeSource(onlyPartner, { kid: PARTNER_2.kid, confirm: true }), {
      ok: false,
      code: 'bundle_invalid',
      problems: [
        'route "orders" would have no allowed source left; edit or remove it first',
        'route "reports" would have no allowed source left; edit or remove it first',
        'route "health" would have no allowed source left; edit or remove it first',
      ],
    });
  });
});
