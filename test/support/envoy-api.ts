/**
 * Envoy's OFFICIAL ext_authz API, for tests: the definitions vendored by the devDependency
 * `@grpc/grpc-js-xds` (deps/envoy-api, googleapis, xds, protoc-gen-validate), loaded with protobufjs,
 * never with our own `protos/`. Tests use it to produce the bytes Envoy would send and to read what
 * our server answers the way Envoy would.
 *
 * `envoyCheckRequest()` shapes a request the way docs/envoy-integration.md F1 and FA
 * say Envoy does: pseudo-headers in the header map, lower-case names, repeats joined with "," (or kept
 * apart in `header_map` with `raw_value` under encode_raw_headers, except the headers Envoy merges
 * itself), invalid UTF-8 turned into "!", hop-by-hop headers and client copies of
 * `x-envoy-auth-partial-body` dropped, `x-request-id` and `x-forwarded-proto` added, the body buffered
 * per `with_request_body`, and `metadata_context` / `route_metadata_context` always on the wire.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import * as grpc from '@grpc/grpc-js';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';

export const REPO_ROOT: string = PACKAGE_ROOT;
const DEPS = join(REPO_ROOT, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');
const INCLUDE_DIRS = ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((d) => join(DEPS, d));

// Envoy's protos import google/protobuf/descriptor.proto (through validate.proto); protobufjs bundles
// it as JSON but only registers it on request, as @grpc/proto-loader also does.
const requireJson = createRequire(import.meta.url);
const descriptorJson = requireJson('protobufjs/google/protobuf/descriptor.json') as {
  nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
};
protobuf.common('descriptor', descriptorJson.nested.google.nested.protobuf.nested ?? {});

/**
 * A fresh Root holding the official `envoy.service.auth.v3` API. Fresh, so a test may add fields to
 * it to play a future Envoy release without touching the shared one.
 */
export function loadOfficialRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

const official = loadOfficialRoot();
export const OfficialCheckRequest: protobuf.Type = official.lookupType('envoy.service.auth.v3.CheckRequest');
export const OfficialCheckResponse: protobuf.Type = official.lookupType('envoy.service.auth.v3.CheckResponse');

/** How decoded official messages are presented: enum names, so a test reads `Unauthorized`. */
const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: String, defaults: false, oneofs: true };

export function encodeOfficialCheckRequest(object: Record<string, unknown>): Buffer {
  const message = OfficialCheckRequest.fromObject(object);
  // fromObject copies maps into plain objects, where a `__proto__` key is silently lost. String maps
  // need no conversion, so the originals go back in and reach the encoder intact (docs/envoy-integration.md FA).
  restoreMap(object, message, ['attributes', 'request', 'http', 'headers']);
  restoreMap(object, message, ['attributes', 'context_extensions']);
  return Buffer.from(OfficialCheckRequest.encode(message).finish());
}

function restoreMap(source: unknown, target: unknown, path: readonly string[]): void {
  let from = source as Record<string, unknown> | undefined;
  let to = target as Record<string, unknown> | undefined;
  for (const key of path.slice(0, -1)) {
    from = from?.[key] as Record<string, unknown> | undefined;
    to = to?.[key] as Record<string, unknown> | undefined;
  }
  const last = path[path.length - 1]!;
  const map = from?.[last];
  if (to !== undefined && typeof map === 'object' && map !== null) to[last] = map;
}

export function decodeOfficialCheckRequest(bytes: Uint8Array): Record<string, unknown> {
  return OfficialCheckRequest.toObject(OfficialCheckRequest.decode(bytes), TO_OBJECT);
}

export function encodeOfficialCheckResponse(object: Record<string, unknown>): Buffer {
  return Buffer.from(OfficialCheckResponse.encode(OfficialCheckResponse.fromObject(object)).finish());
}

/** The CheckResponse as Envoy's definitions read it. Fields absent on the wire are absent here. */
export function decodeOfficialCheckResponse(bytes: Uint8Array): OfficialCheckResponse {
  return OfficialCheckResponse.toObject(OfficialCheckResponse.decode(bytes), TO_OBJECT) as OfficialCheckResponse;
}

export interface OfficialHeaderValueOption {
  header?: { key?: string; value?: string; raw_value?: Uint8Array };
  append?: { value?: boolean };
  append_action?: string;
  keep_empty_value?: boolean;
}

export interface OfficialStruct {
  fields?: Record<string, { stringValue?: string; boolValue?: boolean; numberValue?: number; kind?: string }>;
}

export interface OfficialCheckResponse {
  status?: { code?: number; message?: string };
  denied_response?: { status?: { code?: string }; headers?: OfficialHeaderValueOption[]; body?: string };
  ok_response?: {
    headers?: OfficialHeaderValueOption[];
    headers_to_remove?: string[];
    dynamic_metadata?: OfficialStruct;
    response_headers_to_add?: OfficialHeaderValueOption[];
    query_parameters_to_set?: unknown[];
    query_parameters_to_remove?: string[];
  };
  dynamic_metadata?: OfficialStruct;
  http_response?: 'denied_response' | 'ok_response';
}

/** A flat view of a Struct of scalars, for assertions. */
export function structToPlain(struct: OfficialStruct | undefined): Record<string, string | boolean | number | null> {
  const out: Record<string, string | boolean | number | null> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) {
    out[key] = value.stringValue ?? value.boolValue ?? value.numberValue ?? null;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Envoy-shaped CheckRequests

export interface EnvoyPeerInput {
  readonly address: string;
  readonly port: number;
  /**
   * Only when the connection is TLS: the first URI SAN, e.g. a SPIFFE ID
   * (docs/envoy-integration.md F1.1).
   */
  readonly principal?: string;
}

export interface EnvoyCheckInput {
  readonly method?: string;
  readonly scheme?: 'http' | 'https';
  readonly authority?: string;
  /** `:path` as Envoy holds it, query included. */
  readonly path?: string;
  readonly protocol?: 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2' | 'HTTP/3';
  /** Headers as the client sent them, in arrival order; names in any case. */
  readonly headers?: ReadonlyArray<readonly [string, string | Uint8Array]>;
  /** ext_authz `encode_raw_headers`: send `header_map` with `raw_value` instead of `headers`. */
  readonly encodeRawHeaders?: boolean;
  /** The body the client sent; absent or empty means the headers ended the stream. */
  readonly body?: Uint8Array | string;
  /** ext_authz `with_request_body`; absent means Envoy does not buffer. */
  readonly withRequestBody?: {
    readonly maxRequestBytes: number;
    readonly allowPartialMessage?: boolean;
    readonly packAsBytes?: boolean;
  };
  readonly contextExtensions?: Readonly<Record<string, string>>;
  readonly source?: EnvoyPeerInput;
  readonly destination?: EnvoyPeerInput;
  /** Added by the connection manager when the client sent none. */
  readonly requestId?: string;
  /** Envoy's stream id (`request.http.id`). */
  readonly streamId?: string;
  readonly time?: Date;
  /** `include_tls_session: true`. */
  readonly tlsSni?: string;
  /** Official `config.core.v3.Metadata` objects; empty when absent, never missing. */
  readonly metadataContext?: Record<string, unknown>;
  readonly routeMetadataContext?: Record<string, unknown>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Headers Envoy joins with "," as they are added, so even `header_map` shows them once (docs/envoy-integration.md FA). */
const ENVOY_MERGED = new Set(['x-forwarded-for', 'user-agent', 'content-type', 'te', 'authorization']);
const PARTIAL_BODY = 'x-envoy-auth-partial-body';

/** The CheckRequest object (official field names) Envoy would send; see `envoyCheckRequest`. */
export function envoyCheckRequestObject(input: EnvoyCheckInput = {}): Record<string, unknown> {
  const method = input.method ?? 'GET';
  const scheme = input.scheme ?? 'http';
  const authority = input.authority ?? 'api.example.com';
  const path = input.path ?? '/';
  const protocol = input.protocol ?? 'HTTP/1.1';

  // Client headers after the connection manager: lower-cased, hop-by-hop and Host gone (Host became
  // :authority), client copies of the partial-body header dropped (docs/envoy-integration.md F1.2, FA).
  const entries: Array<[string, Uint8Array]> = [];
  const cookies: Uint8Array[] = [];
  for (const [rawName, rawValue] of input.headers ?? []) {
    const name = rawName.toLowerCase();
    const value = typeof rawValue === 'string' ? Buffer.from(rawValue, 'utf8') : rawValue;
    if (HOP_BY_HOP.has(name) || name === 'host' || name === PARTIAL_BODY) continue;
    if (name === 'cookie' && protocol === 'HTTP/2') cookies.push(value);
    else entries.push([name, value]);
  }
  if (cookies.length > 0) entries.push(['cookie', Buffer.from(cookies.map((c) => Buffer.from(c).toString('latin1')).join('; '), 'latin1')]);
  if (!entries.some(([n]) => n === 'x-request-id')) {
    entries.push(['x-request-id', Buffer.from(input.requestId ?? '6a4d0c2e-7c1b-4f7e-9a55-0d3b8f1e2a90')]);
  }
  const forwardedProto = entries.findIndex(([n]) => n === 'x-forwarded-proto');
  if (forwardedProto >= 0) entries.splice(forwardedProto, 1);
  entries.push(['x-forwarded-proto', Buffer.from(scheme)]);

  // Body buffering (docs/envoy-integration.md F1.3).
  const bodyBytes = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : Buffer.from(input.body ?? []);
  const http: Record<string, unknown> = {
    id: input.streamId ?? '11920138546937489102',
    method,
    path,
    host: authority,
    scheme,
    protocol,
    size: '0',
  };
  const buffer = input.withRequestBody;
  if (buffer !== undefined && bodyBytes.length > 0) {
    if (bodyBytes.length > buffer.maxRequestBytes && buffer.allowPartialMessage !== true) {
      throw new Error('Envoy answers 413 itself: the body exceeds max_request_bytes without allow_partial_message');
    }
    const sent = bodyBytes.subarray(0, buffer.maxRequestBytes);
    entries.push([PARTIAL_BODY, Buffer.from(bodyBytes.length > sent.length ? 'true' : 'false')]);
    if (buffer.packAsBytes === true) http['raw_body'] = sent;
    else http['body'] = sanitizeUtf8(sent);
    http['size'] = String(bodyBytes.length);
  }

  const pseudo: Array<[string, Uint8Array]> = [
    [':authority', Buffer.from(authority)],
    [':path', Buffer.from(path)],
    [':method', Buffer.from(method)],
    [':scheme', Buffer.from(scheme)],
  ];
  const all = [...pseudo, ...entries];
  if (input.encodeRawHeaders === true) {
    const raw: Array<{ key: string; raw_value: Uint8Array }> = [];
    for (const [key, value] of all) {
      const merged = ENVOY_MERGED.has(key) ? raw.find((h) => h.key === key) : undefined;
      if (merged !== undefined) merged.raw_value = Buffer.concat([merged.raw_value, Buffer.from(','), value]);
      else raw.push({ key, raw_value: value });
    }
    http['header_map'] = { headers: raw };
  } else {
    const map = new Map<string, string>();
    for (const [key, value] of all) {
      const text = sanitizeUtf8(value);
      const previous = map.get(key);
      map.set(key, previous === undefined ? text : `${previous},${text}`);
    }
    // A null-prototype object: `__proto__` must stay an ordinary key on its way to protobufjs.
    http['headers'] = Object.assign(Object.create(null) as Record<string, string>, Object.fromEntries(map));
  }

  const time = input.time ?? new Date('2025-06-01T12:00:00.123Z');
  const attributes: Record<string, unknown> = {
    source: peer(input.source ?? { address: '10.0.0.7', port: 51234 }),
    destination: peer(input.destination ?? { address: '10.0.0.9', port: 8080 }),
    request: {
      time: { seconds: String(Math.floor(time.getTime() / 1000)), nanos: (time.getTime() % 1000) * 1e6 },
      http,
    },
    context_extensions: { ...(input.contextExtensions ?? {}) },
    metadata_context: input.metadataContext ?? {},
    route_metadata_context: input.routeMetadataContext ?? {},
  };
  if (input.tlsSni !== undefined) attributes['tls_session'] = { sni: input.tlsSni };
  return { attributes };
}

/** The bytes Envoy would send for this request, encoded with the official definitions. */
export function envoyCheckRequest(input: EnvoyCheckInput = {}): Buffer {
  return encodeOfficialCheckRequest(envoyCheckRequestObject(input));
}

function peer(p: EnvoyPeerInput): Record<string, unknown> {
  return {
    address: { socket_address: { address: p.address, port_value: p.port } },
    ...(p.principal !== undefined ? { principal: p.principal } : {}),
  };
}

// One alternative per well-formed UTF-8 sequence (RFC 3629 §4), matched over a latin1 view of the
// bytes; the last alternative is a byte that starts none of them.
const UTF8_SEQUENCE =
  /[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}|([\s\S])/g;

/**
 * Envoy's sanitising of strings: every byte that is not valid UTF-8 becomes "!"
 * (docs/envoy-integration.md F1.2).
 */
export function sanitizeUtf8(bytes: Uint8Array): string {
  return Buffer.from(bytes)
    .toString('latin1')
    .replace(UTF8_SEQUENCE, (seq: string, invalid: string | undefined) =>
      invalid !== undefined ? '!' : Buffer.from(seq, 'latin1').toString('utf8'),
    );
}

// ---------------------------------------------------------------------------------------------
// A gRPC client that sends pre-encoded CheckRequests

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface RawCheckClient {
  /** Sends the bytes as a CheckRequest; resolves with the response as Envoy's definitions read it. */
  check(bytes: Uint8Array, options?: { deadlineMs?: number }): Promise<OfficialCheckResponse>;
  /** Same, resolving with the raw response bytes. Rejects with the grpc ServiceError on an RPC error. */
  checkBytes(bytes: Uint8Array, options?: { deadlineMs?: number }): Promise<Buffer>;
  close(): void;
}

/** `address` as grpc-js takes it: `127.0.0.1:PORT` or `unix:/path`. Plaintext, like Envoy's cluster in tests. */
export function makeRawCheckClient(address: string): RawCheckClient {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const checkBytes = (bytes: Uint8Array, options?: { deadlineMs?: number }): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest<Uint8Array, Buffer>(
        CHECK_PATH,
        (message) => Buffer.from(message),
        (response) => response,
        bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + (options?.deadlineMs ?? 5000) },
        (err, response) => {
          if (err !== null) reject(err);
          else if (response === undefined) reject(new Error('empty response'));
          else resolve(response);
        },
      );
    });
  return {
    checkBytes,
    check: async (bytes, options) => decodeOfficialCheckResponse(await checkBytes(bytes, options)),
    close: () => client.close(),
  };
}
