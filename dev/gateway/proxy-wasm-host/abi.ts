/**
 * The proxy-wasm ABI 0.2.1 as Envoy's host presents it: the WebAssembly typing the emulator needs,
 * status and enum values, the functions Envoy provides, the header-map wire format, and the types
 * and errors of the emulator's API (docs/envoy-integration.md F5.1–F5.4).
 */
// The project's TypeScript lib has no WebAssembly declarations (no DOM lib, @types/node 20), so the
// few members used here are typed locally instead of widening the whole project's lib.
export interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmDescriptor {
  readonly module: string;
  readonly name: string;
  readonly kind: string;
}
export type WasmImports = Record<string, Record<string, unknown>>;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: WasmImports): Promise<{ readonly exports: Record<string, unknown> }>;
  readonly Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): WasmDescriptor[];
    exports(module: WasmModule): Omit<WasmDescriptor, 'module'>[];
  };
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** proxy_status_t (docs/envoy-integration.md F5.2). */
export const WasmResult = Object.freeze({
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  Unimplemented: 12,
});

export const LogLevel = Object.freeze({ trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5 });
export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'critical'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

export const MapType = Object.freeze({ RequestHeaders: 0, RequestTrailers: 1, ResponseHeaders: 2, ResponseTrailers: 3 });
export const BufferType = Object.freeze({ HttpRequestBody: 0, VmConfiguration: 6, PluginConfiguration: 7 });
export const StreamType = Object.freeze({ HttpRequest: 0 });

/** Every `env.proxy_*` function proxy-wasm-cpp-host registers (FOR_ALL_HOST_FUNCTIONS and _ABI_SPECIFIC). */
export const ENVOY_HOST_FUNCTIONS: readonly string[] = Object.freeze([
  'log', 'get_status', 'set_property', 'get_property', 'send_local_response', 'get_shared_data', 'set_shared_data',
  'register_shared_queue', 'resolve_shared_queue', 'dequeue_shared_queue', 'enqueue_shared_queue',
  'get_header_map_value', 'add_header_map_value', 'replace_header_map_value', 'remove_header_map_value',
  'get_header_map_pairs', 'set_header_map_pairs', 'get_header_map_size', 'get_buffer_status', 'get_buffer_bytes',
  'set_buffer_bytes', 'http_call', 'grpc_call', 'grpc_stream', 'grpc_close', 'grpc_cancel', 'grpc_send',
  'set_tick_period_milliseconds', 'get_current_time_nanoseconds', 'define_metric', 'increment_metric',
  'record_metric', 'get_metric', 'set_effective_context', 'done', 'call_foreign_function',
  'get_configuration', 'continue_request', 'continue_response', 'clear_route_cache', 'continue_stream',
  'close_stream', 'get_log_level',
].map((name) => `proxy_${name}`));

/** WASI functions cpp-host registers (FOR_ALL_WASI_FUNCTIONS), under both WASI module names. */
export const ENVOY_WASI_FUNCTIONS: readonly string[] = Object.freeze([
  'fd_write', 'fd_read', 'fd_seek', 'fd_close', 'fd_fdstat_get', 'environ_get', 'environ_sizes_get', 'args_get',
  'args_sizes_get', 'clock_time_get', 'random_get', 'proc_exit', 'path_open', 'fd_prestat_get', 'fd_prestat_dir_name',
]);

/** `module.name` of every function import Envoy satisfies. */
export const ENVOY_PROVIDED_IMPORTS: ReadonlySet<string> = new Set([
  ...ENVOY_HOST_FUNCTIONS.map((name) => `env.${name}`),
  'env.emscripten_notify_memory_growth',
  ...ENVOY_WASI_FUNCTIONS.map((name) => `wasi_snapshot_preview1.${name}`),
  ...ENVOY_WASI_FUNCTIONS.map((name) => `wasi_unstable.${name}`),
]);

export type HeaderPair = readonly [string, string];
export type HeaderPairs = readonly HeaderPair[];

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** Serialises a header map in the ABI format (docs/envoy-integration.md F5.3). */
export function serializeHeaderMap(pairs: HeaderPairs): Uint8Array {
  const encoded = pairs.map(([k, v]) => [encoder.encode(k), encoder.encode(v)] as const);
  let size = 4 + pairs.length * 8;
  for (const [k, v] of encoded) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, pairs.length, true);
  let data = 4 + pairs.length * 8;
  encoded.forEach(([k, v], i) => {
    view.setUint32(4 + i * 8, k.length, true);
    view.setUint32(8 + i * 8, v.length, true);
    out.set(k, data);
    data += k.length + 1; // NUL already zero
    out.set(v, data);
    data += v.length + 1;
  });
  return out;
}

/** Parses the ABI header-map format; an empty map may be 0 bytes or a single 0x00 (F5.3). */
export function deserializeHeaderMap(bytes: Uint8Array): [string, string][] {
  if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new RangeError('header map: truncated count');
  const count = view.getUint32(0, true);
  let data = 4 + count * 8;
  if (data > bytes.length) throw new RangeError('header map: truncated size table');
  const pairs: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const keyLength = view.getUint32(4 + i * 8, true);
    const valueLength = view.getUint32(8 + i * 8, true);
    if (data + keyLength + valueLength + 2 > bytes.length) throw new RangeError('header map: truncated data');
    if (bytes[data + keyLength] !== 0 || bytes[data + keyLength + 1 + valueLength] !== 0) {
      throw new RangeError('header map: missing NUL terminator');
    }
    const key = decoder.decode(bytes.subarray(data, data + keyLength));
    data += keyLength + 1;
    const value = decoder.decode(bytes.subarray(data, data + valueLength));
    data += valueLength + 1;
    pairs.push([key, value]);
  }
  return pairs;
}

export interface LogEntry {
  readonly level: number;
  readonly levelName: LogLevelName;
  readonly message: string;
  /** The context whose callback was running (0 outside callbacks). */
  readonly contextId: number;
}

export interface LocalReply {
  readonly status: number;
  readonly details: string;
  readonly body: Uint8Array;
  readonly headers: HeaderPairs;
  readonly grpcStatus: number;
  /** `plugin`: proxy_send_local_response; `envoy`: Envoy answered itself (buffer limit, failed VM). */
  readonly source: 'plugin' | 'envoy';
}

export interface ProxyWasmHostOptions {
  /**
   * Envoy ≥ 1.35 `PluginConfig.allow_on_headers_stop_iteration` (docs/envoy-integration.md F5.4).
   * Default true.
   */
  readonly allowOnHeadersStopIteration?: boolean;
  /** The stream's decoder buffer limit; Envoy's default per-connection limit is 1 MiB. */
  readonly decoderBufferLimitBytes?: number;
  /** setCopy removes every copy (newer Envoy runtime flag) instead of only overwriting the first. Default false. */
  readonly setCopyReplacesAll?: boolean;
  /** What proxy_get_log_level reports. Every log is captured regardless. Default info. */
  readonly logLevel?: LogLevelName;
  /** VM configuration (buffer type 6 during on_vm_start). */
  readonly vmConfiguration?: string | Uint8Array;
  /** Called for every log line as well as capturing it in `host.logs`. */
  readonly onLog?: (entry: LogEntry) => void;
}

/** The module could not be loaded the way Envoy loads it (missing import or export, failed start). */
export class ProxyWasmLoadError extends Error {
  override readonly name = 'ProxyWasmLoadError';
  constructor(
    message: string,
    readonly logs: readonly LogEntry[] = [],
  ) {
    super(message);
  }
}

/** proxy_on_configure (or on_vm_start) returned false: Envoy rejects the plugin. */
export class PluginConfigurationRejected extends Error {
  override readonly name = 'PluginConfigurationRejected';
  constructor(readonly logs: readonly LogEntry[]) {
    super(`plugin configuration rejected${logs.length > 0 ? `: ${logs.map((l) => l.message).join('; ')}` : ''}`);
  }
}

export interface FilterExports {
  readonly memory: WasmMemory;
  readonly malloc?: (size: number) => number;
  readonly proxy_on_memory_allocate?: (size: number) => number;
  readonly _initialize?: () => void;
  readonly _start?: () => void;
  readonly main?: (argc: number, argv: number) => number;
  readonly __main_void?: () => number;
  readonly proxy_on_context_create?: (context: number, parent: number) => void;
  readonly proxy_on_vm_start?: (root: number, size: number) => number;
  readonly proxy_on_configure?: (root: number, size: number) => number;
  readonly proxy_on_request_headers?: (context: number, headers: number, endOfStream: number) => number;
  readonly proxy_on_request_body?: (context: number, size: number, endOfStream: number) => number;
  readonly proxy_on_request_trailers?: (context: number, trailers: number) => number;
  readonly proxy_on_log?: (context: number) => void;
  readonly proxy_on_done?: (context: number) => number;
  readonly proxy_on_delete?: (context: number) => void;
}


/** A reply Envoy itself sends (buffer limit, failed VM). */
export function envoyReply(status: number, details: string, body: string): LocalReply {
  return Object.freeze({ status, details, body: encoder.encode(body), headers: [], grpcStatus: -1, source: 'envoy' });
}

export function toBytes(value: string | Uint8Array | object | null): Uint8Array {
  if (value === null) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  return encoder.encode(JSON.stringify(value));
}
