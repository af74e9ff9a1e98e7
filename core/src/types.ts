/**
 * Shared types of the protocol core. Everything the edges (gRPC server, gateway, SDK, CLI) pass into
 * the core, and everything the core hands back, is declared here.
 */
import type { Phase, ReasonCode } from './reasons.js';

/** Header names on the wire. Lower-case, because Envoy presents every header name lower-cased. */
export const HEADER = Object.freeze({
  passport: 'x-trustplane-passport',
  proof: 'x-trustplane-proof',
  /** Set (replaced) by the wasm filter: base64url SHA-256 of the request body, no padding. */
  bodySha256: 'x-trustplane-body-sha256',
  /** Set (replaced) by the wasm filter with the hash: the number of body bytes it hashed, in decimal. */
  bodyLength: 'x-trustplane-body-length',
  /** Deny responses carry the reason code here. */
  reason: 'x-trustplane-reason',
  decisionId: 'x-trustplane-decision-id',
  /** Identity headers added to the upstream request on allow. */
  subject: 'x-trustplane-subject',
  issuer: 'x-trustplane-issuer',
  trustDomain: 'x-trustplane-trust-domain',
  keyBinding: 'x-trustplane-key-binding',
  route: 'x-trustplane-route',
  /** Added by Envoy into the CheckRequest only when it buffered a body. */
  envoyPartialBody: 'x-envoy-auth-partial-body',
});

/** Headers a caller sends that must never reach the upstream. */
export const CREDENTIAL_HEADERS: readonly string[] = Object.freeze([HEADER.passport, HEADER.proof, HEADER.bodySha256]);

/** Every header name under this prefix is TrustPlane's: on allow, no client-sent one reaches the upstream. */
export const HEADER_NAMESPACE = 'x-trustplane-';

/** Identity headers the server sets on allow (or removes when it has no value for them). */
export const IDENTITY_HEADERS = Object.freeze([
  HEADER.subject,
  HEADER.issuer,
  HEADER.trustDomain,
  HEADER.keyBinding,
  HEADER.route,
  HEADER.decisionId,
] as const);

/**
 * Namespace headers every allow already removes or overwrites: the credentials and the identity
 * headers. Any other client-sent `x-trustplane-*` name is removed by name (docs/envoy-integration.md).
 */
export const HANDLED_NAMESPACE_HEADERS: ReadonlySet<string> = new Set([...CREDENTIAL_HEADERS, ...IDENTITY_HEADERS]);

/** Ordered weakest → strongest. */
export const KEY_BINDINGS = Object.freeze(['software', 'remote_kms', 'hardware_local', 'attested_workload'] as const);
export type KeyBinding = (typeof KEY_BINDINGS)[number];

export function keyBindingRank(kb: KeyBinding): number {
  return KEY_BINDINGS.indexOf(kb);
}

export function isKeyBinding(v: unknown): v is KeyBinding {
  return typeof v === 'string' && (KEY_BINDINGS as readonly string[]).includes(v);
}

export const FRESHNESS_CLASSES = Object.freeze(['realtime', 'bounded', 'offline-ok'] as const);
export type FreshnessClass = (typeof FRESHNESS_CLASSES)[number];

/**
 * What the edge observed of the body. The core never trusts a client value: the edge produces
 * `filter_header` only when the server is configured to trust the wasm filter, and the core uses it
 * only on a route whose bundle `body.hash_source` is `filter` (docs/bundle.md §1.2.3); on any other
 * route it falls back to `otherwise`, what the edge would have observed without the header.
 */
export type BodyObservation =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; readonly partial: boolean }
  | {
      readonly kind: 'filter_header';
      /** The hash header's value as received (comma-joined if repeated; the core checks it). */
      readonly value: string;
      /** The filter's body-length header as received; undefined when absent. */
      readonly length?: string;
      /** The observation on a route that does not trust the filter; absent means `unavailable`. */
      readonly otherwise?: 'empty' | 'unavailable';
    }
  | { readonly kind: 'empty' }
  | { readonly kind: 'unavailable' };

/**
 * The request as the verifier observed it, in Envoy's shape (docs/envoy-integration.md F1):
 * `path` holds the query; header names are lower-case; repeated headers are comma-joined with a bare
 * `,`; pseudo-headers may be present in `headers` and are ignored there.
 */
export interface RequestView {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  /** `:path` exactly as Envoy holds it, including `?query`. */
  readonly path: string;
  /** Lower-case name → value. A Map, so names such as `__proto__` are ordinary keys. */
  readonly headers: ReadonlyMap<string, string>;
  /** Names that arrived more than once (from `header_map`), when the edge can tell. */
  readonly repeatedHeaders?: ReadonlySet<string>;
  /**
   * Client-sent `x-trustplane-*` names outside HANDLED_NAMESPACE_HEADERS, in arrival order, when
   * there are any: an allow removes them too, so the whole namespace the client sent is gone.
   */
  readonly namespaceHeaders?: readonly string[];
  readonly body: BodyObservation;
  /** Route id from Envoy `context_extensions` (`trustplane_route`), if configured. */
  readonly routeId?: string;
  /** Per-request mode override from `context_extensions` (`trustplane_mode`). */
  readonly mode?: 'enforce' | 'dry_run';
  readonly sourceAddress?: string;
  /** mTLS peer principal (Istio: the caller's SPIFFE ID). */
  readonly sourcePrincipal?: string;
}

/** An Ed25519 or P-256 public key as a JWK (RFC 7517). */
export interface PublicJwk {
  readonly kty: 'OKP' | 'EC';
  readonly crv: 'Ed25519' | 'P-256';
  readonly x: string;
  readonly y?: string;
  readonly kid?: string;
  readonly alg?: string;
}

export type SigningAlg = 'EdDSA' | 'ES256';

export interface PassportClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly iat: number;
  readonly exp: number;
  readonly nbf?: number;
  readonly jti: string;
  readonly trust_domain: string;
  readonly cnf: { readonly jwk: PublicJwk };
  readonly key_binding: KeyBinding;
  /** docs/transcript-v1.md §15: a reusable passport; absent for a per-request one. */
  readonly reusable?: true;
}

/** Identity established by an allowed (or dry-run) decision; safe to log and forward. */
export interface Identity {
  readonly issuer: string;
  readonly subject: string;
  readonly trustDomain: string;
  readonly keyBinding: KeyBinding;
  readonly kid: string;
  readonly jti: string;
  readonly audience: string;
}

export interface Decision {
  /** True when the request may proceed: an allow, or a dry-run deny. */
  readonly allow: boolean;
  /** The verdict before dry-run was applied. */
  readonly reason: ReasonCode;
  /**
   * Where the verdict was reached: the engine phase that returned the reason (`decision` for an
   * allow; `internal` for the codes of that group, wherever they arose). Always the phase the
   * registry gives the reason (core/src/reasons.ts; test/core/decision-phase.test.ts).
   */
  readonly phase: Phase;
  /**
   * Why, in a few words, for a deny: which check refused and, where it helps, the value it refused
   * (printable, length-bounded, never a credential or key). Absent on an allow. For the audit log
   * and operators only: it is not sent to the client.
   */
  readonly detail?: string;
  readonly httpStatus: number;
  readonly grpcStatus: number;
  readonly decisionId: string;
  readonly dryRun: boolean;
  readonly routeId?: string;
  readonly identity?: Identity;
  readonly transcriptSha256?: string;
  /**
   * The credential headers of the proof kind the engine ran the request through
   * (ProofKind.credentialHeaders, e.g. `authorization` and `dpop` for DPoP): an allow removes them
   * from the request passed on, besides CREDENTIAL_HEADERS, which every allow removes. Absent when no
   * kind ran (no bundle, a request the edge could not read).
   */
  readonly credentialHeaders?: readonly string[];
  readonly audit: AuditEvent;
}

export const AUDIT_SCHEMA = 'trustplane-auth-audit-event-v0.2';

export interface AuditEvent {
  readonly schema: typeof AUDIT_SCHEMA;
  readonly time: string;
  readonly decision_id: string;
  readonly decision: 'allow' | 'deny';
  readonly enforced: boolean;
  readonly reason_code: ReasonCode;
  /** Decision.phase. */
  readonly phase: Phase;
  /** Decision.detail; null on an allow. */
  readonly detail: string | null;
  readonly route_id: string | null;
  readonly audience: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly trust_domain: string | null;
  readonly jti: string | null;
  readonly kid: string | null;
  readonly key_binding: KeyBinding | null;
  readonly transcript_sha256: string | null;
  readonly method: string | null;
  readonly authority: string | null;
  readonly path: string | null;
  readonly source_address: string | null;
  readonly source_principal: string | null;
  readonly bundle_serial: number | null;
  readonly latency_us: number;
  /** The proof kind the request was decided as (core/src/engine/proof-kind.ts), e.g. `transcript-v1`. */
  readonly credential_kind: string | null;
  /** `per_request` or `reusable` (docs/transcript-v1.md §15), once the passport claims were read. */
  readonly credential_mode: 'per_request' | 'reusable' | null;
  /** The request parts the proof kind binds, space-separated in BINDING_PARTS order, once its credential was verified. */
  readonly bound: string | null;
  /** A DPoP proof's `jti` (what the replay phase consumes for DPoP, docs/dpop.md); null for other kinds. */
  readonly dpop_jti: string | null;
}
