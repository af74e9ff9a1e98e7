/**
 * The server's protobuf surface: `protos/` loaded once, at module scope, with @grpc/proto-loader,
 * and the TypeScript shapes of the messages the server reads and writes.
 *
 * Loader options, and why:
 * - `keepCase: true`: field names as in the .proto (`context_extensions`, `raw_body`), the names
 *   docs/envoy-integration.md (F3) and Envoy's docs use.
 * - `longs: String`: the only 64-bit field we meet is `HttpRequest.size`; a string never loses
 *   precision and we do not compute with it.
 * - `enums: Number`: `HttpStatus.code` numbers are the HTTP status codes themselves and the reason
 *   registry already holds numbers; Envoy casts any value > 0 (docs/envoy-integration.md F3). With
 *   `String`, a value this file does not name would still decode as a number, so Number gives one type
 *   always. On encode, protobufjs accepts a number or a name either way.
 * - `defaults: true`: every scalar is present after decoding (empty string, 0, empty Buffer), so a
 *   missing field and an empty one read the same, as they do in proto3. Unset message fields are
 *   `null`.
 * - `oneofs: true`: a virtual property names the member that is set (`http_response`, `address`).
 * - bytes stay Node `Buffer`s (the proto-loader default; we do not pass `bytes`).
 *
 * The Check method does not use this decoder: request-codec.ts reads the fields the server needs
 * straight from the wire, in the shape these options give them.
 *
 * `google.protobuf.Struct` values use camelCase members (`stringValue`, `boolValue`) even with
 * `keepCase`, because protobufjs substitutes its bundled well-known types
 * (docs/envoy-integration.md FA).
 */
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import type * as grpc from '@grpc/grpc-js';
import { decodeCheckRequestFast, type DecodedCheckRequest, type UndecodableCheckRequest } from './request-codec.js';

export const PROTO_DIR: string = join(PACKAGE_ROOT, 'protos');

export const LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

const packageDefinition = protoLoader.loadSync(
  ['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto'],
  LOADER_OPTIONS,
);

// ---------------------------------------------------------------------------------------------
// Well-known types (protobufjs bundled shapes)

export interface Struct {
  fields: Record<string, Value>;
}

/** One member is set. Decoded values also carry `kind`, the name of that member. */
export interface Value {
  nullValue?: 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct;
  listValue?: { values: Value[] };
  kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
}

export interface Timestamp {
  /** int64 as a decimal string (`longs: String`). */
  seconds: string | number;
  nanos: number;
}

export interface Any {
  type_url: string;
  value: Buffer;
}

// ---------------------------------------------------------------------------------------------
// envoy.config.core.v3

export interface SocketAddress {
  protocol?: number;
  address?: string;
  port_value?: number;
  named_port?: string;
  port_specifier?: 'port_value' | 'named_port';
  resolver_name?: string;
  ipv4_compat?: boolean;
}

export interface Address {
  socket_address?: SocketAddress | null;
  pipe?: { path?: string; mode?: number } | null;
  envoy_internal_address?: { server_listener_name?: string; endpoint_id?: string } | null;
  address?: 'socket_address' | 'pipe' | 'envoy_internal_address';
}

export interface Metadata {
  filter_metadata?: Record<string, Struct>;
  typed_filter_metadata?: Record<string, Any>;
}

export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer | Uint8Array;
}

import { HeaderAppendAction } from './header-append-action.js';
export { HeaderAppendAction };

export interface HeaderValueOption {
  header: HeaderValue;
  /**
   * Deprecated upstream and never set by us: when set it wins over `append_action`
   * (docs/envoy-integration.md F2.2).
   */
  append?: { value: boolean } | null;
  append_action?: HeaderAppendAction;
  keep_empty_value?: boolean;
}

export interface HeaderMap {
  headers?: HeaderValue[];
}

export interface QueryParameter {
  key: string;
  value: string;
}

// ---------------------------------------------------------------------------------------------
// envoy.service.auth.v3 — request side (as decoded; every field may be absent on odd input)

export interface Peer {
  address?: Address | null;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

export interface HttpRequest {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  header_map?: HeaderMap | null;
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  /** int64 as a decimal string (`longs: String`). */
  size?: string | number;
  protocol?: string;
  body?: string;
  raw_body?: Buffer | Uint8Array;
}

export interface AttributeContext {
  source?: Peer | null;
  destination?: Peer | null;
  request?: { time?: Timestamp | null; http?: HttpRequest | null } | null;
  context_extensions?: Record<string, string>;
  metadata_context?: Metadata | null;
  tls_session?: { sni?: string } | null;
  route_metadata_context?: Metadata | null;
}

export interface CheckRequest {
  attributes?: AttributeContext | null;
}

// ---------------------------------------------------------------------------------------------
// envoy.service.auth.v3 — response side (as we build them)

export interface RpcStatus {
  code: number;
  message: string;
}

export interface DeniedHttpResponse {
  /** envoy.type.v3.HttpStatus; the enum number is the HTTP status code. */
  status: { code: number };
  headers: HeaderValueOption[];
  body: string;
}

export interface OkHttpResponse {
  headers: HeaderValueOption[];
  headers_to_remove: string[];
  response_headers_to_add?: HeaderValueOption[];
  query_parameters_to_set?: QueryParameter[];
  query_parameters_to_remove?: string[];
}

/** Exactly one of `denied_response` / `ok_response` (the `http_response` oneof). */
export type CheckResponse =
  | { status: RpcStatus; denied_response: DeniedHttpResponse; dynamic_metadata?: Struct }
  | { status: RpcStatus; ok_response: OkHttpResponse; dynamic_metadata?: Struct };

// ---------------------------------------------------------------------------------------------
// grpc.health.v1

export const ServingStatus = Object.freeze({ UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const);
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}

// ---------------------------------------------------------------------------------------------
// Services

export interface AuthorizationHandlers extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<CheckRequest, CheckResponse>;
}

export interface HealthHandlers extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;
  Watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse>;
}

/** `envoy.service.auth.v3.Authorization`, for `server.addService(AuthorizationService, handlers)`. */
export const AuthorizationService = packageDefinition['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition<AuthorizationHandlers>;

/** `grpc.health.v1.Health`. */
export const HealthService = packageDefinition['grpc.health.v1.Health'] as unknown as grpc.ServiceDefinition<HealthHandlers>;

/** The gRPC path Envoy calls. */
export const CHECK_METHOD_PATH = '/envoy.service.auth.v3.Authorization/Check';

/**
 * What the gRPC server hands the Check handler for these bytes: the direct decoder
 * (request-codec.ts), for tests and benchmarks that work with bytes. proto-loader's own decoder for
 * protos/, which the direct one is tested against, stays `AuthorizationService.Check.requestDeserialize`.
 */
export function decodeCheckRequest(bytes: Buffer): DecodedCheckRequest | UndecodableCheckRequest {
  return decodeCheckRequestFast(bytes);
}

/** proto-loader's encoder for protos/; the server writes with response-codec.ts, which is tested against this. */
export function encodeCheckResponse(response: CheckResponse): Buffer {
  return AuthorizationService.Check.responseSerialize(response);
}
