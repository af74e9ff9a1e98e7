/**
 * The protocol core's public face: what the caller SDK and the package's users get, and the only
 * core module (with `server-api.ts`) that code outside `core/` may import.
 *
 * The rule: this entry is the caller side and the shared vocabulary — keys, passports,
 * transcript-v1, proofs, request signing, the encodings they are defined over, the reason
 * registry and the wire types. It must stay lean: it is compiled into `@trustplane/sdk`
 * (packages/sdk/tsconfig.json compiles exactly what sdk/src imports), which depends on Node.js
 * built-ins only, so nothing reachable from here may import a server dependency (ioredis,
 * @grpc/grpc-js, prom-client, …) or evaluate anything at import time that needs the checkout's
 * files. The decision engine, bundles, replay stores and the server's helpers are in
 * `server-api.ts`. test/core/public-face.test.ts fails on any other import of core from the
 * product folders; test/sdk/package.test.ts checks the packed SDK.
 */
export { REASONS, REASON_CODES, reasonInfo, isReasonCode, type ReasonCode, type ReasonInfo } from './reasons.js';
export * from './types.js';
export type { TrustKey } from './bundle/types.js';
export { b64url, fromB64url, sha256, sha256b64url, sha256hex, canonicalJson, parseJsonObject } from './encoding.js';
export { generateSigningKey, importPrivateJwk, exportPrivateJwk, importPublicJwk, checkPublicJwk, exportPublicJwk, toPublicJwk, parseKeySet, jwkThumbprint, JwkError, type JwkProblem, type SigningKey, type PrivateJwk, type ImportedPublicKey } from './keys.js';
export { issuePassport, newJti, PASSPORT_TYP, DEFAULT_PASSPORT_LIFETIME_S, type IssuePassportOptions } from './passport.js';
export { buildTranscript, canonicalPath, canonicalQuery, canonicalAuthority, type Transcript, type TranscriptInput } from './transcript.js';
export { createProof, parseProof, newNonce, type ParsedProof } from './proof.js';
export { signRequest, collectHeaders, readPassportClaims, type HeaderInput, type RequestToSign, type SignOptions, type SignedRequest } from './sign-request.js';
