/** The protocol core's public surface. Internals (jws, engine phases) stay internal. */
export { REASONS, REASON_CODES, reasonInfo, isReasonCode, type ReasonCode, type ReasonInfo } from './reasons.js';
export * from './types.js';
export { generateSigningKey, importPrivateJwk, exportPrivateJwk, importPublicJwk, checkPublicJwk, exportPublicJwk, jwkThumbprint, JwkError, type JwkProblem, type SigningKey, type PrivateJwk, type ImportedPublicKey } from './keys.js';
export { issuePassport, newJti, PASSPORT_TYP, type IssuePassportOptions } from './passport.js';
export { buildTranscript, canonicalPath, canonicalQuery, canonicalAuthority, type Transcript, type TranscriptInput } from './transcript.js';
export { createProof, parseProof, newNonce, type ParsedProof } from './proof.js';
export { signRequest, collectHeaders, readPassportClaims, type RequestToSign, type SignOptions, type SignedRequest } from './signer.js';
export { verifyRequest, edgeDecision, type VerifyInput } from './engine/verify.js';
export { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from './engine/options.js';
export * from './bundle/index.js';
export { createReplayStore, MemoryReplayStore, RedisReplayStore, type ReplayStore, type ConsumeResult, type ReplayStoreConfig } from './replay/index.js';
export { redactForLog } from './redact.js';
