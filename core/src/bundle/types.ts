/**
 * trustplane-bundle-v1: the signed, local trust and policy document. `docs/bundle.md` is the
 * normative description; these types are its shape after validation.
 */
import type { FreshnessClass, KeyBinding, PublicJwk, SigningAlg } from '../types.js';

export const BUNDLE_FORMAT = 'trustplane-bundle-v1';

/** Used when a route omits `max_passport_lifetime_s`. */
export const DEFAULT_MAX_PASSPORT_LIFETIME_S = 300;

export interface TrustKey {
  readonly kid: string;
  readonly issuer: string;
  readonly trust_domain: string;
  /** The highest key-binding class passports signed by this key may claim. */
  readonly max_key_binding: KeyBinding;
  readonly jwk: PublicJwk;
}

export interface AllowedSource {
  readonly issuer: string;
  readonly trust_domain: string;
  /** Exact subject, or a pattern where `*` matches within one path segment and a trailing `/**` any rest. */
  readonly subject: string;
  readonly min_key_binding?: KeyBinding;
}

export interface RouteMatch {
  /** Upper-case methods; absent means any. */
  readonly methods?: readonly string[];
  /** Exact canonical path (no query), or a prefix when it ends in `/*` (one segment) or `/**` (any). */
  readonly path: string;
  /** Canonical authority (lower-case host, default port stripped); absent means any. */
  readonly authority?: string;
}

/**
 * What a route demands of the request body (docs/bundle.md §1.2.3). `bound` (the default when `body`
 * is absent): the transcript binds the SHA-256 of the complete body, so the verifier must observe it,
 * else deny. `empty`: the route takes no body; the transcript binds the empty-body hash, and any body
 * the verifier observes is `body_mismatch` whatever the proof signed.
 */
export interface BodyRule {
  readonly mode: 'bound' | 'empty';
  /** Largest body accepted, in bytes; only meaningful with `bound`. */
  readonly max_bytes?: number;
  /**
   * Which observation of the body the verifier trusts on this route. `buffered` (the default): only
   * what Envoy itself reports — the buffered body (`with_request_body`), or, where Envoy buffers, the
   * absence of one. `filter`: also the wasm filter's body-hash and body-length headers, which a client
   * could forge on any listener or route where the filter (or the strip of client copies) is missing.
   */
  readonly hash_source?: BodyHashSource;
}

export const BODY_HASH_SOURCES = Object.freeze(['buffered', 'filter'] as const);
export type BodyHashSource = (typeof BODY_HASH_SOURCES)[number];

export interface Route {
  readonly id: string;
  readonly match: RouteMatch;
  readonly audience: string;
  readonly allowed_sources: readonly AllowedSource[];
  readonly required_key_binding: KeyBinding;
  readonly freshness_class: FreshnessClass;
  /** Header names (lower-case) every proof for this route must bind. */
  readonly bound_headers: readonly string[];
  /** Maximum passport lifetime (exp - iat) in seconds; defaults to 300. */
  readonly max_passport_lifetime_s?: number;
  /** Require the mTLS peer principal (Envoy source.principal) to equal the passport subject. */
  readonly require_peer_principal?: boolean;
  readonly mode?: 'enforce' | 'dry_run';
  /** Absent means `{ mode: 'bound' }`. */
  readonly body?: BodyRule;
  /**
   * Lower-case names of headers upstreams use to change the method or the URL; a request carrying
   * one is denied unless the proof binds it. Absent means DEFAULT_OVERRIDE_HEADERS; `[]` turns the
   * check off for the route (docs/bundle.md §1.2.4).
   */
  readonly override_headers?: readonly string[];
  /**
   * The proof kinds the route accepts (docs/bundle.md §1.2.5); absent means `["transcript-v1"]`.
   * Names from PROOF_KIND_NAMES.
   */
  readonly proof_kinds?: readonly string[];
  /**
   * The parts of the request a proof must bind on this route (docs/bundle.md §1.2.5); absent means
   * all of BINDING_PART_NAMES.
   */
  readonly min_binding?: readonly BindingPartName[];
  /**
   * The route accepts reusable passports (docs/transcript-v1.md §15, docs/bundle.md §1.2.6), whose
   * `exp - iat` must not exceed `max_lifetime_s`. Absent: a reusable passport is denied
   * (`passport_reuse_not_allowed`).
   */
  readonly reusable_passport?: ReusablePassportRule;
}

export interface ReusablePassportRule {
  /** Integer 1–3600: the longest `exp - iat` of a reusable passport on this route. */
  readonly max_lifetime_s: number;
}

/** The proof kinds a bundle route may name (core/src/engine/kinds/index.ts implements them). */
export const PROOF_KIND_NAMES = Object.freeze(['transcript-v1', 'dpop'] as const);
/** The request parts a proof may bind (core/src/engine/proof-kind.ts BINDING_PARTS). */
export const BINDING_PART_NAMES = Object.freeze(['method', 'authority', 'path', 'query', 'headers', 'body'] as const);
export type BindingPartName = (typeof BINDING_PART_NAMES)[number];

export interface Revocations {
  readonly kids: readonly string[];
  readonly jtis: readonly string[];
  readonly subjects: readonly string[];
  /** RFC 7638 thumbprints of holder (cnf) keys. */
  readonly cnf_thumbprints: readonly string[];
}

export interface BundleSignature {
  readonly alg: SigningAlg;
  readonly kid: string;
  /** base64url signature over the canonical JSON of the document without `signature`. */
  readonly value: string;
}

export interface BundleDocument {
  readonly format: typeof BUNDLE_FORMAT;
  readonly serial: number;
  /** Unix seconds. */
  readonly issued_at: number;
  readonly expires_at: number;
  readonly keys: readonly TrustKey[];
  readonly routes: readonly Route[];
  readonly revocations: Revocations;
  readonly signature?: BundleSignature;
}
