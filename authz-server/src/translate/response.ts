/**
 * Decision → CheckResponse: the two builders, and nothing else, that answer Envoy.
 *
 * - A deny is a *successful* RPC whose `status.code` is the reason's non-zero gRPC code, with an
 *   explicit `denied_response.status`: Envoy does not map gRPC codes to HTTP and uses 403 when the
 *   status is absent (docs/envoy-integration.md F2.1, F2.4).
 * - An allow has `status.code` 0 and an `ok_response` that sets identity headers and removes the
 *   credential headers (F2.2).
 * - Every header we send has `append_action: OVERWRITE_IF_EXISTS_OR_ADD` and no `append`: the only
 *   combination that means "set" on old and new Envoy alike (F2.2, F3 note).
 * - Identity (headers and metadata) is published only when the verdict is `ok`. A dry-run allow of a
 *   would-be deny forwards no identity: an upstream or a later filter (RBAC on metadata) must never
 *   act on an identity that failed a check. Identity header names we do not set are removed, so a
 *   client cannot send its own `x-trustplane-subject` through; every other client-sent
 *   `x-trustplane-*` header is removed by name, so the whole namespace the client sent is gone.
 * - `dynamic_metadata` goes in `CheckResponse.dynamic_metadata`, never the deprecated
 *   `ok_response.dynamic_metadata` that would override it; Envoy stores it under
 *   `envoy.filters.http.ext_authz` for any outcome (F2.2 step 1).
 */
import type { Decision } from '../../../core/src/types.js';
import { CREDENTIAL_HEADERS, HEADER, IDENTITY_HEADERS } from '../../../core/src/types.js';
import type { ReasonCode } from '../../../core/src/reasons.js';
import { REASONS, isReasonCode } from '../../../core/src/reasons.js';
import type { CheckResponse, HeaderValueOption, Struct, Value } from '../proto.js';
import { HeaderAppendAction } from '../header-append-action.js';
import { CONTROL_CHARACTER } from '../../../core/src/printable.js';

/** HeaderValue.value limit in Envoy's API validation (docs/envoy-integration.md F3). */
const MAX_HEADER_VALUE_BYTES = 16384;


/**
 * `namespaceHeaders`: the request's other client-sent `x-trustplane-*` names
 * (RequestView.namespaceHeaders); an allow removes them as well, so nothing the client wrote in our
 * namespace reaches the upstream. Envoy applies `headers` before `headers_to_remove`
 * (ext_authz.cc onComplete), which is why the names we set are never in that list.
 */
export function toCheckResponse(decision: Decision, namespaceHeaders?: readonly string[]): CheckResponse {
  return decision.allow ? allowResponse(decision, namespaceHeaders) : denyResponse(decision);
}

/** For `decision.allow === true`, including a dry-run allow of a would-be deny. */
export function allowResponse(decision: Decision, namespaceHeaders?: readonly string[]): CheckResponse {
  const identity = decision.reason === 'ok' ? decision.identity : undefined;
  const values: Record<(typeof IDENTITY_HEADERS)[number], string | undefined> = {
    [HEADER.subject]: identity?.subject,
    [HEADER.issuer]: identity?.issuer,
    [HEADER.trustDomain]: identity?.trustDomain,
    [HEADER.keyBinding]: identity?.keyBinding,
    [HEADER.route]: decision.routeId,
    [HEADER.decisionId]: decision.decisionId,
  };
  const headers: HeaderValueOption[] = [];
  const unset: string[] = [];
  for (const name of IDENTITY_HEADERS) {
    const value = values[name];
    if (value !== undefined && isHeaderValue(value)) headers.push(setHeader(name, value));
    else unset.push(name);
  }
  return {
    status: { code: 0, message: '' },
    ok_response: {
      headers,
      headers_to_remove: namespaceHeaders === undefined ? [...CREDENTIAL_HEADERS, ...unset] : [...CREDENTIAL_HEADERS, ...unset, ...namespaceHeaders],
    },
    dynamic_metadata: decisionMetadata(decision),
  };
}

/** For `decision.allow === false`. A reason without a non-zero gRPC code is answered as `internal_error`. */
export function denyResponse(decision: Decision): CheckResponse {
  const reason: ReasonCode =
    isReasonCode(decision.reason) && REASONS[decision.reason].grpc !== 0 ? decision.reason : 'internal_error';
  const { status, grpc } = REASONS[reason];
  const headers = [setHeader(HEADER.reason, reason)];
  if (isHeaderValue(decision.decisionId)) headers.push(setHeader(HEADER.decisionId, decision.decisionId));
  headers.push(setHeader('content-type', 'application/json'));
  // RFC 9110 §15.5.2: a 401 carries a challenge.
  if (status === 401) headers.push(setHeader('www-authenticate', `TrustPlane error="${reason}"`));
  return {
    status: { code: grpc, message: reason },
    denied_response: {
      status: { code: status },
      headers,
      body: JSON.stringify({ reason, decision_id: decision.decisionId, status }),
    },
    dynamic_metadata: decisionMetadata({ ...decision, reason }),
  };
}

function decisionMetadata(decision: Decision): Struct {
  const fields: Record<string, Value> = {
    decision_id: { stringValue: decision.decisionId },
    reason: { stringValue: decision.reason },
  };
  if (decision.routeId !== undefined) fields['route_id'] = { stringValue: decision.routeId };
  const identity = decision.reason === 'ok' ? decision.identity : undefined;
  if (identity !== undefined) {
    fields['subject'] = { stringValue: identity.subject };
    fields['issuer'] = { stringValue: identity.issuer };
    fields['trust_domain'] = { stringValue: identity.trustDomain };
    fields['key_binding'] = { stringValue: identity.keyBinding };
    fields['jti'] = { stringValue: identity.jti };
  }
  fields['dry_run'] = { boolValue: decision.dryRun };
  if (decision.dryRun && decision.allow && decision.reason !== 'ok') {
    fields['would_deny_reason'] = { stringValue: decision.reason };
  }
  return { fields };
}

function setHeader(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD };
}

/**
 * Stricter than Envoy's HTTP_HEADER_VALUE rule (no NUL, CR or LF; at most 16384 bytes;
 * docs/envoy-integration.md F3): no control character at all (core/src/printable.ts), so a header we
 * set can never carry one. Identity values cannot (docs/transcript-v1.md §4.2); a value that somehow
 * did would be removed, not sent.
 */
function isHeaderValue(value: string): boolean {
  return !CONTROL_CHARACTER.test(value) && Buffer.byteLength(value, 'utf8') <= MAX_HEADER_VALUE_BYTES;
}
