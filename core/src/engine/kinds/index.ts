/**
 * The proof kinds this verifier knows, in the order the engine tries to recognise them
 * (../proof-kind.ts). When none recognises a request, the first one decides it (for
 * transcript-v1: `passport_missing`), so a request without credentials is denied as it always was.
 */
import type { ProofKind } from '../proof-kind.js';
import { TRANSCRIPT_V1 } from './transcript-v1.js';

export { TRANSCRIPT_V1 } from './transcript-v1.js';

export const PROOF_KINDS: readonly ProofKind[] = Object.freeze([TRANSCRIPT_V1]);
