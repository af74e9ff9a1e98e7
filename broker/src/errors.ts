/**
 * The broker's refusal registry: every answer other than a passport is one of these codes.
 *
 * Codes are API: they are the `error` member of the JSON body, the `reason` label of
 * `trustplane_broker_refused_total`, and they are listed in `docs/broker.md` (a test keeps the two in
 * step). Each SPIFFE failure has its own code so an operator can tell a clock problem from a wrong
 * trust bundle without reading logs.
 */

export interface BrokerErrorInfo {
  readonly status: number;
  readonly summary: string;
}

function e(status: number, summary: string): BrokerErrorInfo {
  return Object.freeze({ status, summary });
}

export const BROKER_ERRORS = Object.freeze({
  // the request itself
  request_invalid: e(400, 'The body is not JSON, or a member is missing, unknown or out of range; `problems` names each one.'),
  holder_jwk_invalid: e(400, '`holder_jwk` is not a public key the verifier accepts (docs/transcript-v1.md §4.1: non-canonical base64url, a small-order, non-canonical or invalid point, a private or unknown member) and nothing else in the body is wrong; `problems` names it.'),
  request_too_large: e(413, 'The body is larger than `max_body_bytes`.'),
  unsupported_media_type: e(415, 'The body is not sent as `application/json`.'),
  not_found: e(404, 'No such endpoint.'),
  method_not_allowed: e(405, 'The endpoint exists but not for this method.'),

  // software path
  software_path_disabled: e(403, 'The broker is configured not to issue `software` passports.'),
  subject_not_allowed: e(403, 'The requested `subject` is not matched by `software.allowed_subjects`.'),
  reusable_not_allowed: e(403, 'The request asks for a reusable passport (`"reusable": true`) and the broker has no `reusable` section, or the passport\'s subject (software subject or SPIFFE ID) is not matched by `reusable.subjects`.'),

  // SPIFFE path
  spiffe_not_configured: e(400, 'The request carries an SVID but the broker has no SPIFFE trust domain configured.'),
  svid_malformed: e(400, 'An `svid_chain` element is not one PEM certificate that parses.'),
  svid_uri_san_count: e(401, 'The leaf has no URI SAN, or more than one.'),
  svid_not_spiffe_id: e(401, 'The leaf URI SAN is not a valid SPIFFE ID with a workload path.'),
  svid_trust_domain_mismatch: e(401, 'The SPIFFE ID belongs to another trust domain than the configured one.'),
  svid_leaf_is_ca: e(401, 'The leaf has basicConstraints cA=true.'),
  svid_key_usage: e(401, 'The leaf key usage lacks digitalSignature, or allows certificate or CRL signing.'),
  svid_expired: e(401, 'A certificate of the chain is expired or not yet valid.'),
  svid_chain_untrusted: e(401, 'The chain does not verify up to a root of the trust-domain bundle.'),
  svid_pop_invalid: e(401, 'The proof of possession does not verify with the leaf key, is stale, or was already used.'),

  internal_error: e(500, 'An unexpected error; nothing was issued.'),
} satisfies Record<string, BrokerErrorInfo>);

export type BrokerErrorCode = keyof typeof BROKER_ERRORS;

export const BROKER_ERROR_CODES: readonly BrokerErrorCode[] = Object.freeze(Object.keys(BROKER_ERRORS) as BrokerErrorCode[]);

/** A refusal as a value: handlers return it, the HTTP layer turns it into the response. */
export interface Refusal {
  readonly ok: false;
  readonly code: BrokerErrorCode;
  /** One line for the caller; never carries a secret. */
  readonly message: string;
  readonly problems?: readonly string[];
}

export function refuse(code: BrokerErrorCode, message: string, problems?: readonly string[]): Refusal {
  return problems ? { ok: false, code, message, problems } : { ok: false, code, message };
}
