/**
 * The gRPC services Envoy calls: their paths and our own (de)serialisers; no .proto is loaded at run
 * time. The server serves them on grpc-transport.ts (check-service.ts, health.ts register them).
 * protos/ holds the definitions these follow, and
 * test/authz-server/wire-compat.test.ts checks paths and bytes against them.
 *
 * - `envoy.service.auth.v3.Authorization/Check` carries bytes both ways: the handler reads the
 *   request itself (check-request.ts) inside its one catch, so no bytes can become a gRPC INTERNAL
 *   error (which Envoy's failure_mode_allow would decide, docs/envoy-integration.md F2.1), and it
 *   answers with the bytes check-response.ts wrote.
 * - `grpc.health.v1.Health` (Check, Watch): one string in, one enum out.
 */
import { LEN, Reader, declared, WireError } from './wire.js';

/** The gRPC path Envoy calls. */
export const CHECK_METHOD_PATH = '/envoy.service.auth.v3.Authorization/Check';

export const ServingStatus = Object.freeze({ UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const);
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}

const HEALTH_CHECK_REQUEST = declared({ 1: LEN });

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';

/** HealthCheckRequest { string service = 1 }. Bytes it cannot read throw: the server answers INTERNAL. */
export function readHealthRequest(bytes: Buffer): HealthCheckRequest {
  const r = new Reader(bytes);
  const end = r.buf.length;
  let service = '';
  while (r.pos < end) {
    const tag = r.tag(end, HEALTH_CHECK_REQUEST);
    if (tag >>> 3 === 1) service = r.string(end);
    else r.skip(tag & 7, end);
  }
  return { service };
}

/** HealthCheckResponse { ServingStatus status = 1 }; proto3 leaves UNKNOWN (0) off the wire. */
export function writeHealthResponse(response: HealthCheckResponse): Buffer {
  if (!Number.isInteger(response.status) || response.status < 0 || response.status > 0x7f) throw new WireError(`status ${response.status}`);
  return response.status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, response.status]);
}
