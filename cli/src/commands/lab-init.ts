/**
 * `trustplane lab-init --out DIR`: the docker-compose lab's trust material. Keys are created once and
 * reused (the one-shot service runs on every `docker compose up`); the bundle is re-issued each run
 * with a higher serial and fresh times, signed, and written after its signing keys, so a server
 * never sees a bundle whose signing-keys file is not there yet (local-trust.ts does both, as it
 * does for the development state). Lab only: private keys sit in plain files (mode 0600).
 */
import { join } from 'node:path';
import { UsageError, bool, need, parseArgs } from '../args.js';
import type { Command } from '../command.js';
import { writeOutputs } from '../files.js';
import { writeLocalTrust } from '../local-trust.js';
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
    const t = writeLocalTrust({
      dir,
      files: LAB.files,
      validForS: LAB.validForS,
      describe: ({ issuerKey, brokerKey }) => ({
        keys: [
          { kid: issuerKey.kid, issuer: LAB.issuer, trust_domain: LAB.trustDomain, max_key_binding: 'software', jwk: issuerKey.publicJwk },
          // lab/broker.yaml has no spiffe section: its passports are software ones.
          { kid: brokerKey.kid, issuer: LAB.brokerIssuer, trust_domain: LAB.brokerTrustDomain, max_key_binding: 'software', jwk: brokerKey.publicJwk },
        ],
        routes: labRoutes(),
      }),
    });
    const { bundle } = t;
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
      kids: { bundle_signing: t.bundleSigningKey.kid, issuer: t.issuerKey.kid, broker: t.brokerKey.kid, holder: t.holderKey.kid },
      // snake_case like every --json key (docs/cli.md); LAB.files is the code's camelCase view.
      files: {
        bundle: LAB.files.bundle,
        signing_keys: LAB.files.signingKeys,
        bundle_signing_key: LAB.files.bundleSigningKey,
        issuer_key: LAB.files.issuerKey,
        broker_key: LAB.files.brokerKey,
        holder_key: LAB.files.holderKey,
        manifest: LAB.files.manifest,
      },
    };
    writeOutputs([{ flag: 'manifest', path: join(dir, LAB.files.manifest), data: `${JSON.stringify(manifest, null, 2)}\n`, mode: 0o644, replace: true }]);
    if (bool(p, 'json')) io.out(`${JSON.stringify(manifest)}\n`);
    else io.out(`lab trust material in ${dir}: bundle serial ${bundle.serial} (routes ${manifest.routes.join(', ')}), issuer kid ${t.issuerKey.kid}, broker kid ${t.brokerKey.kid}\n`);
    return 0;
  },
};
