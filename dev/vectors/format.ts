/**
 * The shape of test/vectors/transcript-v1.json (docs/transcript-v1.md, "Test vectors", describes it
 * for other implementations). Shared by the generator (dev/vectors/gen-vectors.ts) and the test that
 * checks the frozen file (test/core/vectors.test.ts).
 */
import type { CompiledBundle } from '../../core/src/bundle/compile.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import type { ConsumeResult, ReplayStore } from '../../core/src/replay/types.js';
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
  /** The verifier's surroundings when they are not the default ones (docs/transcript-v1.md §14). */
  environment?: VectorEnvironment;
  reason: string;
}

/**
 * What a vector says about the verifier's surroundings. Absent members mean the defaults: the file's
 * `bundle` as loaded, issued at its `issued_at`; a working, empty replay store; no fault.
 */
export interface VectorEnvironment {
  /** `absent`: no verified bundle is loaded. */
  bundle?: 'absent';
  /** The bundle in use was issued this many seconds before `now` (replaces its `issued_at`). */
  bundle_age_s?: number;
  /** `unavailable`: every consume answers that the store cannot answer (down, timed out). */
  replay_store?: 'unavailable';
  /** `exception`: the verifier raises an unexpected exception while deciding (a bug, exhaustion). */
  fault?: 'exception';
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
  /** Key-import vectors (docs/transcript-v1.md §4.1). */
  jwk?: JwkVector[];
}

/** A JWK the one key-import path accepts (with its RFC 7638 thumbprint) or refuses. */
export interface JwkVector {
  id: string;
  description: string;
  /** `cnf`: a passport cnf.jwk (bare members only); `public`: a bundle, broker or key-file public key. */
  context: 'cnf' | 'public';
  jwk: Record<string, unknown>;
  valid: boolean;
  jkt?: string;
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
    case 'bytes': {
      // docs/transcript-v1.md §10: only the exact value `false` says the buffered body is complete.
      const marked = map.get(HEADER.envoyPartialBody);
      body = { kind: 'bytes', bytes: Buffer.from(r.body.base64, 'base64'), partial: r.body.partial === true || (marked !== undefined && marked !== 'false') };
      break;
    }
    case 'filter_header': {
      const length = map.get(HEADER.bodyLength);
      body = { kind: 'filter_header', value: map.get(HEADER.bodySha256) ?? '', ...(length !== undefined ? { length } : {}) };
      break;
    }
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

/** The bundle and replay store a vector runs against, after its `environment` (docs/transcript-v1.md §14). */
export function vectorSurroundings(
  env: VectorEnvironment | undefined,
  bundle: CompiledBundle,
  nowMs: number,
): { bundle: CompiledBundle | undefined; store: ReplayStore } {
  // A fresh store that has forgotten nothing (−∞): vectors test decisions, not amnesia.
  const memory = new MemoryReplayStore({ maxEntries: 64, generationStartMs: -Infinity });
  let store: ReplayStore = memory;
  if (env?.replay_store === 'unavailable') {
    const down = async (): Promise<ConsumeResult> => 'unavailable';
    store = { kind: 'redis', consume: down, ping: async () => false, close: () => memory.close() };
  }
  if (env?.bundle === 'absent') return { bundle: undefined, store };
  if (env?.bundle_age_s === undefined && env?.fault === undefined) return { bundle, store };
  // The compiled bundle is frozen; a child object overrides only what the environment changes.
  const over: PropertyDescriptorMap = {};
  if (env.bundle_age_s !== undefined) over['issuedAt'] = { value: Math.floor(nowMs / 1000) - env.bundle_age_s };
  if (env.fault === 'exception') {
    const fail = (): never => {
      throw new Error('injected verifier fault');
    };
    over['route'] = { value: fail };
    over['matchRoute'] = { value: fail };
  }
  const b = Object.create(bundle, over) as CompiledBundle;
  return { bundle: b, store };
}
