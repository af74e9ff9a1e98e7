/**
 * The shape of test/vectors/transcript-v1.json (docs/transcript-v1.md, "Test vectors", describes it
 * for other implementations). Shared by the generator (scripts/gen-vectors.ts) and the test that
 * checks the frozen file (test/core/vectors.test.ts).
 */
import { HEADER, type BodyObservation, type PublicJwk, type RequestView } from '../../core/src/types.js';

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
  /** Envoy `source.principal`: the mTLS peer's URI SAN (SPIFFE ID); absent on a plaintext connection. */
  peer_principal?: string;
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

/** Header entries as Envoy's `headers` map holds them: repeated names joined with "," (and recorded). */
export function vectorHeaderMap(headers: VectorHeaders): { map: Map<string, string>; repeated: Set<string> } {
  const map = new Map<string, string>();
  const repeated = new Set<string>();
  for (const [n, v] of headers) {
    const prev = map.get(n);
    if (prev === undefined) map.set(n, v);
    else {
      map.set(n, `${prev},${v}`);
      repeated.add(n);
    }
  }
  return { map, repeated };
}

/** The RequestView the authz server builds from a vector's request (authz-server/src/translate). */
export function vectorRequestView(r: EnvoyRequest): RequestView {
  const { map, repeated } = vectorHeaderMap(r.headers);
  let body: BodyObservation;
  switch (r.body.source) {
    case 'bytes':
      body = { kind: 'bytes', bytes: Buffer.from(r.body.base64, 'base64'), partial: r.body.partial ?? false };
      break;
    case 'filter_header':
      body = { kind: 'filter_header', value: map.get(HEADER.bodySha256) ?? '' };
      break;
    case 'empty':
      body = { kind: 'empty' };
      break;
    case 'unavailable':
      body = { kind: 'unavailable' };
      break;
  }
  return {
    method: r.method,
    scheme: r.scheme,
    authority: r.authority,
    path: r.path,
    headers: map,
    ...(repeated.size > 0 ? { repeatedHeaders: repeated } : {}),
    body,
    ...(r.route_id !== undefined ? { routeId: r.route_id } : {}),
    ...(r.peer_principal !== undefined ? { sourcePrincipal: r.peer_principal } : {}),
  };
}
