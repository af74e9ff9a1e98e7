/** The TrustPlane caller SDK (`import { createSigner } from 'trustplane-auth/sdk'`). */
export { createSigner, bodySha256 } from './signer.js';
export type { PassportSource, SignInput, SignedRequestInit, Signer, SignerOptions } from './signer.js';
export { generateSigningKey, exportPrivateJwk, importPrivateJwk, HEADER, type SigningKey, type PrivateJwk } from '../../core/src/index.js';
