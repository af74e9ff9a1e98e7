/** Assertions on CheckResponses as Envoy's official definitions decode them (docs/envoy-integration.md, "Deny"). */
import assert from 'node:assert/strict';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import { OfficialCheckResponse, structToPlain } from './envoy-api.js';

/** The headers of an ok or denied response as name → value (every name is expected once). */
export function headerMap(options: readonly { header?: { key?: string; value?: string } }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options ?? []) if (o.header?.key !== undefined) out[o.header.key] = o.header.value ?? '';
  return out;
}

/** envoy.type.v3.StatusCode number → name, as the official definitions decode `denied_response.status.code`. */
const STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(OfficialCheckResponse.root.lookupEnum('envoy.type.v3.StatusCode').values).map(([name, n]) => [n, name]),
);

export const IDENTITY_HEADER_NAMES = ['x-trustplane-subject', 'x-trustplane-issuer', 'x-trustplane-trust-domain', 'x-trustplane-key-binding', 'x-trustplane-route', 'x-trustplane-decision-id'];
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A deny exactly as docs/envoy-integration.md ("Deny") and the reason registry say: successful RPC,
 * explicit HTTP status, reason header, JSON body.
 */
export function assertDeny(r: OfficialCheckResponse, reason: ReasonCode): void {
  const info = REASONS[reason];
  assert.equal(r.http_response, 'denied_response', `expected a deny with ${reason}, got ${JSON.stringify(r.dynamic_metadata)}`);
  assert.equal(r.status?.code, info.grpc, `gRPC status code for ${reason}`);
  assert.equal(r.denied_response?.status?.code, STATUS_NAME[info.status], `HTTP status for ${reason}`);
  const headers = headerMap(r.denied_response?.headers);
  assert.equal(headers['x-trustplane-reason'], reason);
  assert.match(headers['x-trustplane-decision-id'] ?? '', UUID);
  for (const h of r.denied_response?.headers ?? []) {
    assert.equal(h.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD', `${h.header?.key}: append_action`);
    assert.equal(h.append, undefined, `${h.header?.key}: append must stay unset`);
  }
  if (info.status === 401) assert.equal(headers['www-authenticate'], `TrustPlane error="${reason}"`);
  const body = JSON.parse(r.denied_response?.body ?? '') as { reason: string; status: number; decision_id: string };
  assert.equal(body.reason, reason);
  assert.equal(body.status, info.status);
  assert.equal(body.decision_id, headers['x-trustplane-decision-id']);
  assert.equal(structToPlain(r.dynamic_metadata)['reason'], reason);
}

/** An allow: status 0, identity headers set with OVERWRITE_IF_EXISTS_OR_ADD (append unset), credentials removed. */
export function assertAllow(r: OfficialCheckResponse, route: string): void {
  assert.equal(r.http_response, 'ok_response', `expected an allow, got ${JSON.stringify(structToPlain(r.dynamic_metadata))}`);
  assert.equal(r.status?.code ?? 0, 0);
  for (const h of r.ok_response?.headers ?? []) {
    assert.equal(h.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD', `${h.header?.key}: append_action`);
    assert.equal(h.append, undefined, `${h.header?.key}: append must stay unset (old Envoy would read it)`);
  }
  const headers = headerMap(r.ok_response?.headers);
  assert.equal(headers['x-trustplane-route'], route);
}

/** The reason code a CheckResponse carries in its dynamic metadata (allow or deny). */
export function reasonOf(r: OfficialCheckResponse): string {
  return String(structToPlain(r.dynamic_metadata)['reason']);
}

/** How many responses ended how: `allow:<reason>` for an allow, the reason code for a deny. */
export function tally(responses: readonly OfficialCheckResponse[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of responses) {
    const key = r.http_response === 'ok_response' ? `allow:${reasonOf(r)}` : reasonOf(r);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}
