/**
 * Signs a bundle with a bundle-signing key. Any previous signature is replaced. An invalid document
 * is never signed: a signature is a reviewer's statement that the content is good.
 */
import { b64url } from '../encoding.js';
import { signBytes, type SigningKey } from '../keys.js';
import { canonicalBundleBytes } from './canonical.js';
import { BundleError } from './errors.js';
import type { BundleDocument } from './types.js';
import { validateBundle } from './validate.js';

export function signBundle(bundle: BundleDocument, key: SigningKey): BundleDocument {
  const { signature: _previous, ...unsigned } = bundle;
  const checked = validateBundle(unsigned);
  if (!checked.ok) throw new BundleError('bundle_invalid', checked.problems);
  const value = b64url(signBytes(key.alg, key.privateKey, canonicalBundleBytes(checked.bundle)));
  return Object.freeze({ ...checked.bundle, signature: Object.freeze({ alg: key.alg, kid: key.kid, value }) });
}
