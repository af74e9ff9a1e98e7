/**
 * The shape of test/vectors/transcript-v1.json (docs/transcript-v1.md, "Test vectors", describes it
 * for other implementations). Shared by the generator (scripts/gen-vectors.ts) and the test that
 * checks the frozen file (test/core/vectors.test.ts).
 */
import type { PublicJwk } from '../../core/src/types.js';

export type VectorHeaders = [string, string][];

export type VectorBody =
  | { source: 'bytes'; base64: string; partial?: boolean }
  | { source: 'filter_header' }
  | { source: 'empty' }
  | { source: 'unavailable' };

/** The request as Envoy hands it to ext_authz: header_map entries in arrival order, names lower-case. */
export interface EnvoyRequest {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  headers: VectorHeaders;
  body: VectorBody;
  /** Envoy context_extensions `trustplane_route`, when the route sets it. */
  route_id?: string;
}

/** What the client signed, before Envoy touched the request. */
export interface Signing<K extends string = string> {
  holder: K;
  alg: 'EdDSA' | 'ES256';
  route: string;
  bind_headers: string[];
  nonce: string;
  ts: number;
  field_digests: boolean;
  passport: string;
  method: string;
  authority: string;
  path: string;
  headers: VectorHeaders;
  body_base64: string;
}

export interface PositiveVector<K extends string = string> {
  id: string;
  description: string;
  signing: Signing<K>;
  request: EnvoyRequest;
  transcript: string;
  transcript_sha256: string;
  proof: string;
  signature: string;
  signature_check: 'exact' | 'verify';
}

export interface NegativeVector<K extends string = string> {
  id: string;
  description: string;
  signing?: Signing<K>;
  /** What the verifier observes instead of (or in the place of) the signed request. */
  request: EnvoyRequest;
  /** Present the same request this many times first (each is allowed); then the vector's request. */
  presentations_before?: number;
  reason: string;
}

export interface VectorKey {
  kid: string;
  alg: string;
  private_jwk_test_only: Record<string, string>;
  public_jwk: PublicJwk;
  jkt: string;
}

export interface VectorFile {
  format: string;
  now: number;
  keys: Record<string, VectorKey>;
  bundle: unknown;
  positive: PositiveVector[];
  negative: NegativeVector[];
}
