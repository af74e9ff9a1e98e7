/**
 * The reason-code registry: the one list of every outcome a decision can have.
 *
 * Reason codes are API. They appear in the deny response (`x-trustplane-reason` and the JSON body),
 * in audit events, and as the bounded `reason` label of metrics. `docs/reason-codes.md` documents
 * each one; a test fails when this table and that document disagree.
 *
 * `status` is the HTTP status Envoy returns to the client (docs/reason-codes.md: 401 for missing or
 * invalid credentials, 403 for policy, 503 when a dependency cannot answer). `grpc` is the google.rpc
 * code put in CheckResponse.status; Envoy does not map it to HTTP, which is why `status` is explicit.
 */

export type Phase =
  | 'decision'
  | 'parse'
  | 'signature'
  | 'claims'
  | 'trust'
  | 'route'
  | 'transcript'
  | 'freshness'
  | 'replay'
  | 'internal';

export interface ReasonInfo {
  readonly status: number;
  readonly grpc: number;
  readonly phase: Phase;
  readonly summary: string;
}

const UNAUTHENTICATED = 16;
const PERMISSION_DENIED = 7;
const INVALID_ARGUMENT = 3;
const UNAVAILABLE = 14;
const INTERNAL = 13;
const OK = 0;

function r(status: number, grpc: number, phase: Phase, summary: string): ReasonInfo {
  return Object.freeze({ status, grpc, phase, summary });
}

export const REASONS = Object.freeze({
  ok: r(200, OK, 'decision', 'Every check passed and the jti was consumed.'),

  // parse: the request carries the credentials in a readable shape
  request_malformed: r(400, INVALID_ARGUMENT, 'parse', 'The CheckRequest cannot be decoded, lacks a method, path or authority, or carries an unusable value.'),
  passport_missing: r(401, UNAUTHENTICATED, 'parse', 'No passport header.'),
  proof_missing: r(401, UNAUTHENTICATED, 'parse', 'No proof header.'),
  credential_duplicated: r(401, UNAUTHENTICATED, 'parse', 'A credential header appears more than once (or was comma-joined).'),
  passport_malformed: r(401, UNAUTHENTICATED, 'parse', 'The passport is not a well-formed compact JWS with a JSON header and claims.'),
  proof_malformed: r(401, UNAUTHENTICATED, 'parse', 'The proof is not a well-formed transcript-v1 proof.'),
  passport_typ_invalid: r(401, UNAUTHENTICATED, 'parse', 'The passport header `typ` is not `tp-passport+jwt`.'),
  passport_alg_not_allowed: r(401, UNAUTHENTICATED, 'parse', 'The passport `alg` is not EdDSA or ES256 (none and HMAC are refused).'),
  passport_key_in_header: r(401, UNAUTHENTICATED, 'parse', 'The passport header carries a key or key reference (jwk, jku, x5u, x5c); keys come only from the bundle.'),
  header_not_bindable: r(401, UNAUTHENTICATED, 'parse', 'The proof lists a header that may not be bound (pseudo, credential, hop-by-hop, host, cookie) or an invalid name.'),

  // parse, DPoP (RFC 9449; docs/dpop.md): the access token and the DPoP proof are readable
  access_token_missing: r(401, UNAUTHENTICATED, 'parse', 'A DPoP proof arrived without `Authorization: DPoP <access token>` (RFC 9449 §7.1).'),
  access_token_malformed: r(401, UNAUTHENTICATED, 'parse', 'The DPoP access token is not a well-formed compact JWS with a `kid`, JSON header and claims, and no key in its header.'),
  access_token_typ_invalid: r(401, UNAUTHENTICATED, 'parse', 'The DPoP access token header `typ` is not `at+jwt` (RFC 9068 §2.1).'),
  access_token_alg_not_allowed: r(401, UNAUTHENTICATED, 'parse', 'The DPoP access token `alg` is not EdDSA, Ed25519 or ES256.'),
  dpop_proof_missing: r(401, UNAUTHENTICATED, 'parse', 'An `Authorization: DPoP` access token arrived without a `DPoP` proof header.'),
  dpop_proof_duplicated: r(401, UNAUTHENTICATED, 'parse', 'More than one `DPoP` header (RFC 9449 §4.3 check 1).'),
  dpop_proof_malformed: r(401, UNAUTHENTICATED, 'parse', 'The DPoP proof is not one well-formed JWT with the required claims jti, htm, htu, iat (RFC 9449 §4.3 checks 2 and 3).'),
  dpop_proof_typ_invalid: r(401, UNAUTHENTICATED, 'parse', 'The DPoP proof `typ` is not `dpop+jwt` (RFC 9449 §4.3 check 4).'),
  dpop_proof_alg_not_allowed: r(401, UNAUTHENTICATED, 'parse', 'The DPoP proof `alg` is not EdDSA, Ed25519 or ES256: none and symmetric algorithms are refused (RFC 9449 §4.3 check 5).'),
  dpop_jwk_private: r(401, UNAUTHENTICATED, 'parse', 'The DPoP proof `jwk` header carries a private key member (RFC 9449 §4.3 check 7).'),
  dpop_jwk_invalid: r(401, UNAUTHENTICATED, 'parse', 'The DPoP proof `jwk` header is absent or not an Ed25519 or P-256 public key that passes the key rules.'),

  // signature: the passport is signed by a key the bundle trusts
  passport_kid_unknown: r(401, UNAUTHENTICATED, 'signature', 'No bundle key has the passport `kid`.'),
  passport_signature_invalid: r(401, UNAUTHENTICATED, 'signature', 'The passport signature does not verify with the bundle key.'),

  access_token_kid_unknown: r(401, UNAUTHENTICATED, 'signature', 'No bundle key has the DPoP access token `kid`.'),
  access_token_signature_invalid: r(401, UNAUTHENTICATED, 'signature', 'The DPoP access token signature does not verify with the bundle key of its `kid`.'),
  dpop_proof_signature_invalid: r(401, UNAUTHENTICATED, 'signature', 'The DPoP proof signature does not verify with the key in its `jwk` header (RFC 9449 §4.3 check 6).'),

  // claims
  passport_claims_invalid: r(401, UNAUTHENTICATED, 'claims', 'A required claim is missing, has the wrong type, or is outside its exact syntax.'),
  passport_expired: r(401, UNAUTHENTICATED, 'claims', 'The passport `exp` has passed (beyond the clock tolerance).'),
  passport_not_yet_valid: r(401, UNAUTHENTICATED, 'claims', 'The passport `iat` or `nbf` is in the future (beyond the clock tolerance).'),
  passport_cnf_invalid: r(401, UNAUTHENTICATED, 'claims', 'The `cnf` claim does not hold exactly one bare Ed25519 or P-256 public JWK that passes the key rules (canonical base64url, a valid point not of small order, no private or other member).'),

  access_token_claims_invalid: r(401, UNAUTHENTICATED, 'claims', 'A required DPoP access token claim (iss, sub, aud, iat, exp, jti, cnf.jkt) is missing, mistyped or outside its syntax.'),
  access_token_expired: r(401, UNAUTHENTICATED, 'claims', 'The DPoP access token `exp` has passed (beyond the clock tolerance).'),
  access_token_not_yet_valid: r(401, UNAUTHENTICATED, 'claims', 'The DPoP access token `iat` or `nbf` is in the future (beyond the clock tolerance).'),
  dpop_key_mismatch: r(401, UNAUTHENTICATED, 'claims', 'The RFC 7638 thumbprint of the DPoP proof key is not the access token `cnf.jkt` (RFC 9449 §4.3 check 12).'),

  // trust
  issuer_untrusted: r(401, UNAUTHENTICATED, 'trust', 'The passport `iss` is not the issuer the bundle names for its `kid`.'),
  trust_domain_mismatch: r(403, PERMISSION_DENIED, 'trust', 'The passport `trust_domain` is not the trust domain of its signing key.'),
  key_binding_exceeds_issuer: r(403, PERMISSION_DENIED, 'trust', 'The passport claims a key-binding class above what its issuer key may assert.'),
  key_revoked: r(403, PERMISSION_DENIED, 'trust', 'The passport signing key, or its holder key, is revoked by the bundle.'),
  passport_revoked: r(403, PERMISSION_DENIED, 'trust', 'The passport `jti` or `sub` is revoked by the bundle.'),

  // route policy
  // (first the request target is canonical: docs/transcript-v1.md §6.3–6.5, §12 steps 16–17)
  authority_invalid: r(400, INVALID_ARGUMENT, 'route', 'The authority is empty or not a valid host[:port].'),
  path_not_canonical: r(400, INVALID_ARGUMENT, 'route', 'The path or query is ambiguous (dot segments, empty segments, encoded slash or backslash, bad escapes) and cannot be bound.'),
  route_not_found: r(403, PERMISSION_DENIED, 'route', 'No bundle route matches the request (or the route id from Envoy is unknown).'),
  audience_mismatch: r(403, PERMISSION_DENIED, 'route', 'The passport `aud` is not the audience of the matched route.'),
  passport_lifetime_exceeded: r(401, UNAUTHENTICATED, 'route', '`exp - iat` is longer than the route allows, or than the verifier\'s hard cap.'),
  route_mismatch: r(403, PERMISSION_DENIED, 'route', 'The proof names a different route than the one the request matched.'),
  source_not_allowed: r(403, PERMISSION_DENIED, 'route', 'No `allowed_sources` rule of the route matches the issuer, trust domain and subject.'),
  key_binding_insufficient: r(403, PERMISSION_DENIED, 'route', 'The key-binding class is below what the route or the matching source rule requires.'),
  header_not_bound: r(403, PERMISSION_DENIED, 'route', 'The route requires a header to be bound and the proof does not bind it.'),
  peer_principal_mismatch: r(403, PERMISSION_DENIED, 'route', 'The route requires the mTLS peer principal to equal the passport subject, and it does not.'),
  // route agreement (docs/transcript-v1.md §12 step 18, docs/bundle.md §1.2.4): what Envoy names and what the request carries must agree with the bundle route
  route_request_mismatch: r(403, PERMISSION_DENIED, 'route', 'The route Envoy named (context_extensions) does not cover the request: its methods, authority or path pattern disagree.'),
  override_header_not_bound: r(403, PERMISSION_DENIED, 'route', 'The request carries a method- or URL-override header that the proof does not bind.'),
  // reusable passports (docs/transcript-v1.md §15)
  passport_reuse_not_allowed: r(403, PERMISSION_DENIED, 'route', 'The passport is reusable and the route does not accept reusable passports (no `reusable_passport`).'),
  // proof kinds (docs/bundle.md §1.2.5): what the route accepts as proof
  proof_kind_not_allowed: r(403, PERMISSION_DENIED, 'route', 'The route does not accept the proof kind the request carries (its `proof_kinds`).'),
  proof_binding_insufficient: r(403, PERMISSION_DENIED, 'route', 'The proof kind binds less of the request than the route\'s `min_binding` requires.'),

  // transcript: the proof signs exactly the request the verifier observed
  bound_header_missing: r(401, UNAUTHENTICATED, 'transcript', 'The proof binds a header the request does not carry.'),
  body_unavailable: r(401, UNAUTHENTICATED, 'transcript', 'No trusted body hash: no buffered body, and no filter headers the route trusts.'),
  body_partial: r(413, INVALID_ARGUMENT, 'transcript', 'Envoy sent only part of the body (x-envoy-auth-partial-body other than "false"); it cannot be bound.'),
  body_too_large: r(413, INVALID_ARGUMENT, 'transcript', 'The body (buffered, or as the filter measured it) is larger than the route `body.max_bytes` allows.'),
  body_hash_invalid: r(401, UNAUTHENTICATED, 'transcript', 'The trusted filter headers are not a SHA-256 digest and a matching decimal body length.'),
  transcript_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof signature does not verify over the rebuilt transcript.'),
  method_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed for another method.'),
  authority_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed for another authority.'),
  path_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed for another path.'),
  query_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed for another query.'),
  header_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed over other values of the bound headers.'),
  body_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed over another body, or the route takes no body and one was seen.'),
  nonce_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof nonce was changed after signing.'),
  proof_time_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof timestamp was changed after signing.'),
  passport_binding_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed for another passport (aud, jti or passport hash).'),
  key_binding_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The proof was signed for another key-binding class or holder key.'),

  dpop_htm_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The DPoP proof `htm` is not the request method (RFC 9449 §4.3 check 8).'),
  dpop_htu_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The DPoP proof `htu` is not the request URI without query and fragment (RFC 9449 §4.3 check 9).'),
  dpop_ath_mismatch: r(401, UNAUTHENTICATED, 'transcript', 'The DPoP proof `ath` is absent or not the hash of the access token (RFC 9449 §4.3 check 12).'),

  // freshness
  proof_expired: r(401, UNAUTHENTICATED, 'freshness', 'The proof timestamp is older than the route freshness window.'),
  proof_not_yet_valid: r(401, UNAUTHENTICATED, 'freshness', 'The proof timestamp is in the future beyond the clock tolerance.'),
  bundle_stale: r(503, UNAVAILABLE, 'freshness', 'The bundle in use is older than the route freshness class allows.'),

  // replay
  jti_replay: r(401, UNAUTHENTICATED, 'replay', 'The passport `jti` was already consumed.'),
  dpop_jti_replay: r(401, UNAUTHENTICATED, 'replay', 'The DPoP proof `jti` (per proof key) was already consumed: this proof was presented before.'),
  proof_replay: r(401, UNAUTHENTICATED, 'replay', 'The proof (its nonce, under its reusable passport) was already consumed.'),
  replay_store_unavailable: r(503, UNAVAILABLE, 'replay', 'The replay store could not answer; the request is denied (fail closed).'),
  replay_state_lost: r(503, UNAVAILABLE, 'replay', 'The replay store began a new generation (restart, flush, failover) after this passport could first be accepted; it cannot prove the jti unused.'),
  replay_store_misconfigured: r(503, UNAVAILABLE, 'replay', 'The replay store could drop records before they expire (a Redis maxmemory-policy that evicts); denied until it is fixed.'),

  // internal
  bundle_unavailable: r(503, UNAVAILABLE, 'internal', 'No verified bundle is loaded.'),
  internal_error: r(500, INTERNAL, 'internal', 'An unexpected error on the request path; denied and logged (fail closed).'),

  // overload: the server itself is past its capacity (docs/reason-codes.md, "Overload")
  overloaded: r(503, UNAVAILABLE, 'internal', 'The server shed the check: too many in flight, too little of Envoy\'s deadline left, or its own busy event loop held up the replay store\'s answer.'),
} satisfies Record<string, ReasonInfo>);

export type ReasonCode = keyof typeof REASONS;

export const REASON_CODES: readonly ReasonCode[] = Object.freeze(Object.keys(REASONS) as ReasonCode[]);

export function reasonInfo(code: ReasonCode): ReasonInfo {
  return REASONS[code];
}

export function isReasonCode(value: unknown): value is ReasonCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(REASONS, value);
}
