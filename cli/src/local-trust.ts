/**
 * Local trust material in a folder: keys created once and reused, and a bundle re-issued on every
 * call with a higher serial and fresh times, signed, and written last (so a server watching the
 * folder never sees a bundle whose signing-keys file is not there yet). Used by the development
 * state (`server --dev`, `up`, `demo`) and by `lab-init`. Private keys sit in plain files, mode 0600:
 * development and lab only.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundle, signBundle, exportPrivateJwk, generateSigningKey, type BundleDocument, type Route, type TrustKey, type SigningKey } from '../../core/src/server-api.js';
import { readPrivateKey, writeOutputs } from './files.js';

export interface TrustFiles {
  readonly bundle: string;
  readonly signingKeys: string;
  readonly bundleSigningKey: string;
  readonly issuerKey: string;
  readonly brokerKey: string;
  readonly holderKey: string;
}

export interface LocalKeys {
  readonly bundleSigningKey: SigningKey;
  readonly issuerKey: SigningKey;
  readonly brokerKey: SigningKey;
  readonly holderKey: SigningKey;
}

export interface LocalTrust extends LocalKeys {
  readonly dir: string;
  readonly bundlePath: string;
  readonly signingKeysPath: string;
  readonly bundle: BundleDocument;
}

export interface LocalTrustSpec {
  readonly dir: string;
  readonly files: TrustFiles;
  readonly validForS: number;
  /** The bundle's trust keys and routes, given the folder's keys. */
  readonly describe: (keys: LocalKeys) => { keys: TrustKey[]; routes: Route[] };
  readonly nowMs?: number;
}

export function writeLocalTrust(spec: LocalTrustSpec): LocalTrust {
  const { dir, files } = spec;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`cannot create ${dir}: ${(e as Error).message}`);
  }
  const key = (file: string): SigningKey => {
    const path = join(dir, file);
    if (existsSync(path)) return readPrivateKey(path, 'existing key');
    const k = generateSigningKey('EdDSA');
    writeOutputs([{ flag: 'new key', path, data: `${JSON.stringify(exportPrivateJwk(k), null, 2)}\n`, mode: 0o600, replace: false }]);
    return k;
  };
  const keys: LocalKeys = {
    bundleSigningKey: key(files.bundleSigningKey),
    issuerKey: key(files.issuerKey),
    brokerKey: key(files.brokerKey),
    holderKey: key(files.holderKey),
  };
  const bundlePath = join(dir, files.bundle);
  const signingKeysPath = join(dir, files.signingKeys);
  const now = Math.floor((spec.nowMs ?? Date.now()) / 1000);
  const built = buildBundle({ serial: previousSerial(bundlePath) + 1, issuedAt: now, expiresAt: now + spec.validForS, ...spec.describe(keys) });
  if (!built.ok) throw new Error(`local bundle is invalid: ${built.code}: ${built.problems.join('; ')}`);
  const bundle = signBundle(built.bundle, keys.bundleSigningKey);
  // These two are re-issued on every run by this command's contract (docs/cli.md, lab-init): the
  // folder's keys are never replaced, its bundle and signing-keys file always are.
  writeOutputs([
    { flag: 'signing keys', path: signingKeysPath, data: `${JSON.stringify({ keys: [keys.bundleSigningKey.publicJwk] }, null, 2)}\n`, mode: 0o644, replace: true },
    { flag: 'bundle', path: bundlePath, data: `${JSON.stringify(bundle, null, 2)}\n`, mode: 0o644, replace: true },
  ]);
  return { dir, bundlePath, signingKeysPath, bundle, ...keys };
}

/** The serial of the bundle already in the folder, 0 when there is none or it cannot be read. */
function previousSerial(path: string): number {
  if (!existsSync(path)) return 0;
  try {
    const serial = (JSON.parse(readFileSync(path, 'utf8')) as { serial?: unknown }).serial;
    return typeof serial === 'number' && Number.isSafeInteger(serial) && serial > 0 ? serial : 0;
  } catch {
    return 0;
  }
}
