/**
 * Decision → CheckResponse bytes: the two builders, and nothing else, that answer Envoy. Each writes
 * only the fields it sets, straight to the wire (wire.ts), with the field numbers of protos/
 * (docs/envoy-integration.md F3); test/authz-server/wire-compat.test.ts reads them back with Envoy's
 * official definitions.
 *
 * - A deny is a *successful* RPC whose `status.code` is the reason's non-zero gRPC code, with an
 *   explicit `denied_response.status`: Envoy does not map gRPC codes to HTTP and uses 403 when the
 *   status is absent (docs/envoy-integration.md F2.1, F2.4).
 * - An allow has `status.code` 0 and an `ok_response` that sets identity headers and removes the
 *   credential headers (F2.2): the transcript-v1 ones always, and those of the proof kind that
 *   decided (`decision.credentialHeaders`, e.g. DPoP's `authorization` and `dpop`, docs/dpop.md §5).
 * - Every header we send has `append_action: OVERWRITE_IF_EXISTS_OR_ADD` and no `append`: the only
 *   combination that means "set" on old and new Envoy alike (F2.2, F3 note).
 * - Identity (headers and metadata) is published only when the verdict is `ok`. A dry-run allow of a
 *   would-be deny forwards no identity: an upstream or a later filter (RBAC on metadata) must never
 *   act on an identity that failed a check. Identity header names we do not set are removed, so a
 *   client cannot send its own `x-trustplane-subject` through; every other client-sent
 *   `x-trustplane-*` header is removed by name, so the whole namespace the client sent is gone.
 *   Envoy applies `headers` before `headers_to_remove` (ext_authz.cc onComplete), which is why the
 *   names we set are never in that list.
 * - `dynamic_metadata` goes in `CheckResponse.dynamic_metadata`, never the deprecated
 *   `ok_response.dynamic_metadata` that would override it; Envoy stores it under
 *   `envoy.filters.http.ext_authz` for any outcome (F2.2 step 1).
 *
 * Messages, fields written (envoy.service.auth.v3 and envoy.config.core.v3):
 *   CheckResponse: status 1 (google.rpc.Status: code 1, message 2), denied_response 2, ok_response 3,
 *     dynamic_metadata 4 (google.protobuf.Struct: fields 1, map<string, Value> entries key 1, value 2;
 *     Value: string_value 3, bool_value 4)
 *   DeniedHttpResponse: status 1 (HttpStatus: code 1), headers 2, body 3
 *   OkHttpResponse: headers 2, headers_to_remove 5
 *   HeaderValueOption: header 1 (HeaderValue: key 1, value 2), append_action 3
 */
import { CREDENTIAL_HEADERS, HEADER, IDENTITY_HEADERS, REASONS, isReasonCode, CONTROL_CHARACTER, type Decision, type ReasonCode } from '../../../core/src/server-api.js';
import { begin, constantField, delimit, finish, raw, stringField, uintField, written } from './wire.js';

/** HeaderValue.value limit in Envoy's API validation (docs/envoy-integration.md F3). */
const MAX_HEADER_VALUE_BYTES = 16384;
/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD */
export const OVERWRITE_IF_EXISTS_OR_ADD = 2;

/** Decision → bytes: `writeAllow` when `decision.allow`, else `writeDeny`. */
export function writeCheckResponse(decision: Decision, namespaceHeaders?: readonly string[]): Buffer {
  return decision.allow ? writeAllow(decision, namespaceHeaders) : writeDeny(decision);
}

/**
 * For `decision.allow === true`, including a dry-run allow of a would-be deny. `namespaceHeaders`:
 * the request's other client-sent `x-trustplane-*` names (RequestView.namespaceHeaders).
 */
export function writeAllow(decision: Decision, namespaceHeaders?: readonly string[]): Buffer {
  const identity = decision.reason === 'ok' ? decision.identity : undefined;
  const values = [identity?.subject, identity?.issuer, identity?.trustDomain, identity?.keyBinding, decision.routeId, decision.decisionId];
  begin();
  metadata(decision);
  const ok = written();
  // headers_to_remove 5: credentials, the deciding kind's other credentials, identity names without
  // a value, other namespace names.
  if (namespaceHeaders !== undefined) for (let i = namespaceHeaders.length - 1; i >= 0; i--) stringField(5, namespaceHeaders[i]!);
  for (let i = IDENTITY_HEADERS.length - 1; i >= 0; i--) if (!sendable(values[i])) raw(NAMES.remove[i]!);
  if (decision.credentialHeaders !== undefined) raw(kindCredentials(decision.credentialHeaders));
  raw(NAMES.credentials);
  // headers 2
  for (let i = IDENTITY_HEADERS.length - 1; i >= 0; i--) {
    const value = values[i];
    if (sendable(value)) setHeader(2, NAMES.set[i]!, value);
  }
  delimit(3, ok);
  delimit(1, written()); // status {}: code 0, message ""
  return finish();
}

/** What a deny says, whoever sends it (the middleware answers with the same, docs/middleware.md). */
export interface DenyParts {
  readonly reason: ReasonCode;
  readonly grpc: number;
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

/** For `decision.allow === false`. A reason without a non-zero gRPC code is answered as `internal_error`. */
export function denyParts(decision: Decision): DenyParts {
  const reason: ReasonCode = isReasonCode(decision.reason) && REASONS[decision.reason].grpc !== 0 ? decision.reason : 'internal_error';
  const { status, grpc } = REASONS[reason];
  const headers: Array<readonly [string, string]> = [[HEADER.reason, reason]];
  if (sendable(decision.decisionId)) headers.push([HEADER.decisionId, decision.decisionId]);
  headers.push(['content-type', 'application/json']);
  // RFC 9110 §15.5.2: a 401 carries a challenge.
  if (status === 401) headers.push(['www-authenticate', `TrustPlane error="${reason}"`]);
  return { reason, grpc, status, headers, body: JSON.stringify({ reason, decision_id: decision.decisionId, status }) };
}

export function writeDeny(decision: Decision): Buffer {
  const deny = denyParts(decision);
  begin();
  metadata(decision, deny.reason);
  const denied = written();
  stringField(3, deny.body);
  for (let i = deny.headers.length - 1; i >= 0; i--) {
    const [name, value] = deny.headers[i]!;
    setHeader(2, headerName(name), value);
  }
  const status = written();
  uintField(1, deny.status);
  delimit(1, status);
  delimit(2, denied);
  const rpc = written();
  stringField(2, deny.reason);
  uintField(1, deny.grpc);
  delimit(1, rpc);
  return finish();
}

/** dynamic_metadata 4, fields in this order: decision_id, reason, route_id, identity, dry_run, would_deny_reason. */
function metadata(decision: Decision, reason: string = decision.reason): void {
  const struct = written();
  if (decision.dryRun && decision.allow && reason !== 'ok') stringEntry('would_deny_reason', reason);
  boolEntry('dry_run', decision.dryRun);
  const identity = reason === 'ok' ? decision.identity : undefined;
  if (identity !== undefined) {
    stringEntry('jti', identity.jti);
    stringEntry('key_binding', identity.keyBinding);
    stringEntry('trust_domain', identity.trustDomain);
    stringEntry('issuer', identity.issuer);
    stringEntry('subject', identity.subject);
  }
  if (decision.routeId !== undefined) stringEntry('route_id', decision.routeId);
  stringEntry('reason', reason);
  stringEntry('decision_id', decision.decisionId);
  delimit(4, struct);
}

/** Struct.fields 1 entry {key 1, value 2 = Value {string_value 3}}. */
function stringEntry(key: string, value: string): void {
  const entry = written();
  const v = written();
  stringField(3, value);
  delimit(2, v);
  raw(metadataKey(key));
  delimit(1, entry);
}

function boolEntry(key: string, value: boolean): void {
  const entry = written();
  const v = written();
  uintField(4, value ? 1 : 0);
  delimit(2, v);
  raw(metadataKey(key));
  delimit(1, entry);
}

/** HeaderValueOption {header {key, value}, append_action OVERWRITE_IF_EXISTS_OR_ADD} as field `field`. */
function setHeader(field: number, name: Buffer, value: string): void {
  const option = written();
  uintField(3, OVERWRITE_IF_EXISTS_OR_ADD);
  const header = written();
  if (value !== '') stringField(2, value);
  raw(name);
  delimit(1, header);
  delimit(field, option);
}

/**
 * Stricter than Envoy's HTTP_HEADER_VALUE rule (no NUL, CR or LF; at most 16384 bytes;
 * docs/envoy-integration.md F3): no control character at all (core/src/printable.ts), so a header we
 * set can never carry one. Identity values cannot (docs/transcript-v1.md §4.2); a value that somehow
 * did would be removed, not sent.
 */
function sendable(value: string | undefined): value is string {
  return value !== undefined && !CONTROL_CHARACTER.test(value) && Buffer.byteLength(value, 'utf8') <= MAX_HEADER_VALUE_BYTES;
}

// The fixed names, each encoded once: tag, length and bytes.
const NAMES = {
  /** HeaderValue.key 1 of each identity header. */
  set: IDENTITY_HEADERS.map((n) => constantField(1, n)),
  /** headers_to_remove 5 entries of each identity header. */
  remove: IDENTITY_HEADERS.map((n) => constantField(5, n)),
  credentials: Buffer.concat(CREDENTIAL_HEADERS.map((n) => constantField(5, n))),
};
/**
 * headers_to_remove entries of a kind's credential headers beyond CREDENTIAL_HEADERS, encoded once
 * per kind (a kind's list is one frozen array, proof-kind.ts credentialHeaderNames).
 */
const KIND_CREDENTIALS = new WeakMap<readonly string[], Buffer>();
function kindCredentials(names: readonly string[]): Buffer {
  let bytes = KIND_CREDENTIALS.get(names);
  if (bytes === undefined) {
    bytes = Buffer.concat(names.filter((n) => !CREDENTIAL_HEADERS.includes(n)).map((n) => constantField(5, n)));
    KIND_CREDENTIALS.set(names, bytes);
  }
  return bytes;
}
const DENY_HEADER_NAMES = new Map([HEADER.reason, HEADER.decisionId, 'content-type', 'www-authenticate'].map((n) => [n, constantField(1, n)]));
const METADATA_KEYS = new Map<string, Buffer>();

function headerName(name: string): Buffer {
  return DENY_HEADER_NAMES.get(name) ?? constantField(1, name);
}

function metadataKey(key: string): Buffer {
  let bytes = METADATA_KEYS.get(key);
  if (bytes === undefined) METADATA_KEYS.set(key, (bytes = constantField(1, key)));
  return bytes;
}
