/**
 * The proof kinds this verifier knows, in the order the engine tries to recognise them
 * (../proof-kind.ts). When none recognises a request, the first one decides it (for
 * transcript-v1: `passport_missing`), so a request without credentials is denied as it always was.
 * transcript-v1 comes first: a request carrying its headers is decided as transcript-v1 whatever
 * else it carries; DPoP (./dpop.ts) takes a request with a `DPoP` header or `Authorization: DPoP`.
 */
import type { ProofKind } from '../proof-kind.js';
import { DPOP } from './dpop.js';
import { TRANSCRIPT_V1 } from './transcript-v1.js';

export { DPOP } from './dpop.js';
export { TRANSCRIPT_V1 } from './transcript-v1.js';

export const PROOF_KINDS: readonly ProofKind[] = Object.freeze([TRANSCRIPT_V1, DPOP]);
