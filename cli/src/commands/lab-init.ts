/**
 * `trustplane lab-init --out DIR`: the docker-compose lab's trust material. Keys are created once and
 * reused (the one-shot service runs on every `docker compose up`); the bundle is re-issued each run
 * with a higher serial and fresh times, signed, and written last, so a server never sees a bundle
 * whose signing key file is not there yet. Lab only: private keys sit in plain files (mode 0600).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundle } from '../../../core/src/bundle/edit.js';
import { signBundle } from '../../../core/src/bundle/sign.js';
import { exportPrivateJwk, generateSigningKey, type SigningKey } from '../../../core/src/keys.js';
import { UsageError, bool, need, parseArgs } from '../args.js';
import type { Command } from '../command.js';
import { readPrivateKey, writeAtomic, writeNew } from '../files.js';
import { LAB, labRoutes } from '../lab.js';

export const labInitCommand: Command = {
  name: 'lab-init',
  summary: 'write the docker-compose lab keys and signed bundle into a folder',
  usage: `trustplane lab-init --out DIR [--json]

  Writes what the docker-compose lab mounts (docs/cli.md, "lab-init"):
    ${LAB.files.bundle}               the signed bundle (routes payments-create, payments-read, uploads-create)
    ${LAB.files.signingKeys}          the bundle-signing public key (JWKS), for lab/server.yaml
    ${LAB.files.brokerKey}            the broker's private key (lab/broker.yaml key_file), trusted in the bundle
    ${LAB.files.issuerKey}       issuer key the demo tour signs passports with
    ${LAB.files.holderKey}       the demo's holder key
    ${LAB.files.bundleSigningKey}  re-sign after edits: trustplane bundle sign --key …
    ${LAB.files.manifest}                  issuer, audience, trust domains, kids (no secrets)
  Existing keys are kept; the bundle gets serial + 1 and fresh times on every run.
  --out DIR   created (mode 0700) when missing
  --json      print the manifest`,
  async run(argv, io) {
    const p = parseArgs(argv, { out: { type: 'string' }, json: { type: 'boolean' } });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const dir = need(p, 'out');
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new Error(`cannot create --out ${dir}: ${(e as Error).message}`);
    }
    const key = (file: string): SigningKey => {
      const path = join(dir, file);
      if (existsSync(path)) return readPrivateKey(path, 'existing key');
      const k = generateSigningKey('EdDSA');
      writeNew(path, `${JSON.stringify(exportPrivateJwk(k), null, 2)}\n`, 0o600);
      return k;
    };
    const signer = key(LAB.files.bundleSigningKey);
    const issuer = key(LAB.files.issuerKey);
    const broker = key(LAB.files.brokerKey);
    const holder = key(LAB.files.holderKey);
    const bundlePath = join(dir, LAB.files.bundle);
    let serial = 1;
    if (existsSync(bundlePath)) {
      const prev = (JSON.parse(readFileSync(bundlePath, 'utf8')) as { serial?: unknown }).serial;
      if (typeof prev === 'number' && Number.isSafeInteger(prev)) serial = prev + 1;
    }
    const now = Math.floor(Date.now() / 1000);
    const built = buildBundle({
      serial,
      issuedAt: now,
      expiresAt: now + LAB.validForS,
      keys: [
        { kid: issuer.kid, issuer: LAB.issuer, trust_domain: LAB.trustDomain, max_key_binding: 'software', jwk: issuer.publicJwk },
        // lab/broker.yaml has no spiffe section: its passports are software ones.
        { kid: broker.kid, issuer: LAB.brokerIssuer, trust_domain: LAB.brokerTrustDomain, max_key_binding: 'software', jwk: broker.publicJwk },
      ],
      routes: labRoutes(),
    });
    if (!built.ok) throw new Error(`lab bundle is invalid: ${built.code}: ${built.problems.join('; ')}`);
    const bundle = signBundle(built.bundle, signer);
    writeAtomic(join(dir, LAB.files.signingKeys), `${JSON.stringify({ keys: [signer.publicJwk] }, null, 2)}\n`);
    const manifest = {
      bundle_serial: bundle.serial,
      expires_at: bundle.expires_at,
      audience: LAB.audience,
      issuer: LAB.issuer,
      trust_domain: LAB.trustDomain,
      subject_pattern: LAB.subjectPattern,
      broker_issuer: LAB.brokerIssuer,
      broker_trust_domain: LAB.brokerTrustDomain,
      broker_subject: LAB.brokerSubject,
      routes: bundle.routes.map((r) => r.id),
      kids: { bundle_signing: signer.kid, issuer: issuer.kid, broker: broker.kid, holder: holder.kid },
      files: LAB.files,
    };
    writeAtomic(join(dir, LAB.files.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
    writeAtomic(bundlePath, `${JSON.stringify(bundle, null, 2)}\n`);
    if (bool(p, 'json')) io.out(`${JSON.stringify(manifest)}\n`);
    else io.out(`lab trust material in ${dir}: bundle serial ${bundle.serial} (routes ${manifest.routes.join(', ')}), issuer kid ${issuer.kid}, broker kid ${broker.kid}\n`);
    return 0;
  },
};
