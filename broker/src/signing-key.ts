/**
 * The broker's signing key: loaded from a private JWK file, generated into that file on first start
 * when `generate_key` allows it, or ephemeral when no file is configured. The `kid` is always the
 * RFC 7638 thumbprint, whatever `kid` the file carries, so one key can never be published under two ids.
 */
import { closeSync, lstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { exportPrivateJwk, generateSigningKey, importPrivateJwk, jwkThumbprint, type SigningKey, type TrustKey, type KeyBinding, type PublicJwk } from '../../core/src/index.js';
import type { BrokerConfig } from './config.js';

export class BrokerKeyError extends Error {
  readonly code = 'broker_key_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'BrokerKeyError';
  }
}

export function loadSigningKey(config: Pick<BrokerConfig, 'keyFile' | 'generateKey'>): SigningKey {
  if (config.keyFile === undefined) return generateSigningKey('EdDSA');
  const file = config.keyFile;
  let st;
  try {
    st = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new BrokerKeyError(`key_file ${file}: ${(err as Error).message}`);
    if (!config.generateKey) throw new BrokerKeyError(`key_file ${file} does not exist (set generate_key: true to create it)`);
    return generateInto(file);
  }
  if (!st.isFile()) throw new BrokerKeyError(`key_file ${file} is not a regular file`);
  // Like ssh: a private key others can read is already compromised, so refuse rather than warn.
  if ((st.mode & 0o077) !== 0) throw new BrokerKeyError(`key_file ${file} is readable or writable by group or others (chmod 600 it)`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new BrokerKeyError(`key_file ${file} is owned by another user`);
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new BrokerKeyError(`key_file ${file} is not JSON (expected a private JWK)`);
  }
  try {
    const j = jwk as PublicJwk;
    return importPrivateJwk(jwk, jwkThumbprint({ kty: j.kty, crv: j.crv, x: j.x, ...(j.y !== undefined ? { y: j.y } : {}) }));
  } catch (err) {
    // The importer's messages name the member at fault and never echo key material.
    throw new BrokerKeyError(`key_file ${file}: ${(err as Error).message}`);
  }
}

function generateInto(file: string): SigningKey {
  const key = generateSigningKey('EdDSA');
  // `wx` fails if the file appeared meanwhile, and the mode applies at creation: never world-readable.
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(exportPrivateJwk(key), null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
  return key;
}

export function jwks(key: SigningKey): { keys: PublicJwk[] } {
  return { keys: [{ ...key.publicJwk, use: 'sig' } as PublicJwk] };
}

/** The bundle `keys[]` entry an operator pastes (or merges) into trustplane-bundle-v1. */
export function trustEntry(key: SigningKey, config: Pick<BrokerConfig, 'issuer' | 'trustDomain' | 'spiffe'>): TrustKey {
  const max: KeyBinding = config.spiffe?.attestedTrustEntry ? 'attested_workload' : 'software';
  return { kid: key.kid, issuer: config.issuer, trust_domain: config.trustDomain, max_key_binding: max, jwk: key.publicJwk };
}
