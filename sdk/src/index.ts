/** The TrustPlane caller SDK (`import { createSigner } from 'trustplane-auth/sdk'`). */
export { createSigner, bodySha256 } from './signer.js';
export type { PassportSource, SignInput, SignedRequestInit, Signer, SignerOptions } from './signer.js';
export { generateSigningKey, exportPrivateJwk, importPrivateJwk } from '../../core/src/keys.js';
export type { SigningKey, PrivateJwk } from '../../core/src/keys.js';
export { HEADER } from '../../core/src/types.js';
