/**
 * A proxy-wasm (ABI 0.2.1) host that runs a compiled filter in Node's WebAssembly (V8, the engine
 * Envoy embeds) and behaves like Envoy's wasm HTTP filter on the request path. The tests drive the
 * real `.wasm` through it, and the local gateway can drive real HTTP requests through it.
 *
 * Behaviour modelled, with the source of each rule (F5.1 etc. are sections of docs/envoy-integration.md,
 * "Envoy facts this repository relies on"):
 * - Lifecycle (F5.1): `_initialize` (or `_start`), root context create → on_vm_start → on_configure
 *   (plugin configuration readable as buffer type 7); one context per stream, created under the
 *   root; on_log → on_done → on_delete when a stream is closed.
 * - Header maps (F5.2, F5.3): keys lower-cased on every call; get returns the FIRST value only;
 *   add = addCopy; replace = setCopy, which by default overwrites only the first copy of a repeated
 *   header (the behaviour of Envoy builds without `http_set_copy_replace_all_headers`, the worst
 *   case for a filter that must not let a client-sent copy survive); remove drops every copy.
 * - Header status (F5.1, F5.4): Pause from on_request_headers is StopIteration when
 *   `allowOnHeadersStopIteration` (Envoy ≥ 1.35 option) is true, else StopAllIterationAndWatermark:
 *   the body callbacks are then never called and the stream hangs until proxy_continue_stream.
 *   After the headers were passed on, request-header calls return BAD_ARGUMENT.
 * - Body (F5.4): while the previous body callback returned StopIterationAndBuffer the new chunk is
 *   appended to the stream's buffer BEFORE the VM call, and body_size is cumulative; after Continue
 *   the buffer is only the current chunk. Buffered bytes over `decoderBufferLimitBytes` (Envoy's
 *   default 1 MiB) make Envoy itself answer 413. Continue from a body or trailers callback passes
 *   held headers on first (filter.h: "Continue sends headers first").
 * - Local replies (F5.2, F5.4): recorded; Envoy defers the reply until the callback returns and
 *   then never calls the VM again for that stream's request path.
 * - Imports (F5.2): only what cpp-host registers; a module importing anything else fails to load,
 *   as in Envoy. proc_exit and traps fail the VM, and every later stream gets a 503.
 * - Empty results (cpp-host `copyToPointerSize`): nothing is allocated and the return slots are
 *   left untouched, so a filter that does not clear them is caught.
 */
import { randomFillSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';

// The project's TypeScript lib has no WebAssembly declarations (no DOM lib, @types/node 20), so the
// few members used here are typed locally instead of widening the whole project's lib.
export interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmDescriptor {
  readonly module: string;
  readonly name: string;
  readonly kind: string;
}
type WasmImports = Record<string, Record<string, unknown>>;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: WasmImports): Promise<{ readonly exports: Record<string, unknown> }>;
  readonly Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): WasmDescriptor[];
    exports(module: WasmModule): Omit<WasmDescriptor, 'module'>[];
  };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

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
const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'critical'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

const MapType = Object.freeze({ RequestHeaders: 0, RequestTrailers: 1, ResponseHeaders: 2, ResponseTrailers: 3 });
const BufferType = Object.freeze({ HttpRequestBody: 0, VmConfiguration: 6, PluginConfiguration: 7 });
const StreamType = Object.freeze({ HttpRequest: 0 });

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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

interface FilterExports {
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

/**
 * Envoy's per-stream decoding buffer: a chain of slices, like Buffer::OwnedImpl, so appending a
 * chunk never copies what is already buffered.
 */
class ByteBuffer {
  private chunks: Uint8Array[] = [];
  length = 0;

  /** Appends `chunk` by reference: callers hand over chunks they no longer write to. */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Copies `[start, end)` into `target` at `offset`. */
  copyRange(start: number, end: number, target: Uint8Array, offset: number): void {
    let chunkStart = 0;
    for (const chunk of this.chunks) {
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd > start && chunkStart < end) {
        const from = Math.max(start, chunkStart) - chunkStart;
        const to = Math.min(end, chunkEnd) - chunkStart;
        target.set(chunk.subarray(from, to), offset);
        offset += to - from;
      }
      if (chunkEnd >= end) break;
      chunkStart = chunkEnd;
    }
  }

  view(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0] ?? new Uint8Array(0);
    const joined = new Uint8Array(this.length);
    this.copyRange(0, this.length, joined, 0);
    this.chunks = this.length === 0 ? [] : [joined];
    return joined;
  }

  /** Replaces `[start, start + size)` with `data` (proxy_set_buffer_bytes). */
  splice(start: number, size: number, data: Uint8Array): void {
    const current = this.view();
    const next = new Uint8Array(this.length - size + data.length);
    next.set(current.subarray(0, start), 0);
    next.set(data, start);
    next.set(current.subarray(start + size), start + data.length);
    this.chunks = next.length === 0 ? [] : [next];
    this.length = next.length;
  }

  /** Moves the slices out: the buffer is empty afterwards. */
  take(): Uint8Array[] {
    const out = this.chunks;
    this.chunks = [];
    this.length = 0;
    return out;
  }

  /** Moves every slice of `other` to the end of this buffer. */
  absorb(other: ByteBuffer): void {
    this.chunks.push(...other.chunks);
    this.length += other.length;
    other.chunks = [];
    other.length = 0;
  }
}

/** Which filter status Envoy derived from the VM's last return value. */
export type RequestState =
  | 'idle' // nothing sent yet
  | 'stopped' // headers held (StopIteration), body callbacks run
  | 'stopped-all' // StopAll*: no body callbacks until proxy_continue_stream
  | 'buffering' // last body callback returned StopIterationAndBuffer/Watermark
  | 'streaming' // headers passed on; body goes through chunk by chunk
  | 'ended' // the whole request was passed on
  | 'replied'; // a local reply ended the request

/** One HTTP stream through the filter: drive it with sendHeaders / sendBody / sendTrailers. */
export class ProxyWasmStream {
  private headers: [string, string][];
  private trailers: [string, string][] | null = null;
  private readonly buffer = new ByteBuffer();
  /** The current body view the VM sees as HTTP_REQUEST_BODY during a body or trailers callback. */
  bodyView: ByteBuffer | null = null;
  private readonly forwarded: Uint8Array[] = [];
  private state: RequestState = 'idle';
  private headersPassedOn = false;
  private closed = false;
  /** The client finished sending (end of stream seen). */
  private bodyDone = false;
  private pendingReply: LocalReply | null = null;
  private reply: LocalReply | null = null;
  /** Set while on_log runs: request headers are readable, not writable. */
  inLogPhase = false;
  /** How many times proxy_on_request_body was called. */
  bodyCallbacks = 0;
  /** The raw value the VM returned from its last request callback. */
  lastAction: number | null = null;

  constructor(
    private readonly host: ProxyWasmHost,
    readonly contextId: number,
    headers: HeaderPairs,
  ) {
    // Envoy's codecs present every header name lower-cased (docs/envoy-integration.md F10.6).
    this.headers = headers.map(([k, v]) => [k.toLowerCase(), v]);
  }

  /** The request headers as the next filter sees them (live until they are passed on). */
  get requestHeaders(): HeaderPairs {
    return this.headers;
  }

  get requestTrailers(): HeaderPairs | null {
    return this.trailers;
  }

  /** All values of a request header, in order. */
  headerValues(name: string): string[] {
    const key = name.toLowerCase();
    return this.headers.filter(([k]) => k === key).map(([, v]) => v);
  }

  get localReply(): LocalReply | null {
    return this.reply;
  }

  /** The request headers were passed on to the next filter (ext_authz in production). */
  get continued(): boolean {
    return this.headersPassedOn;
  }

  /** The whole request (headers, body, trailers) was passed on. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  get requestState(): RequestState {
    return this.state;
  }

  /** The body bytes passed on to the next filter so far. */
  forwardedBody(): Uint8Array {
    return Buffer.concat(this.forwarded);
  }

  private get vmStopped(): boolean {
    return this.state === 'replied' || this.state === 'ended' || this.closed || this.host.failure !== null;
  }

  sendHeaders(endOfStream: boolean): void {
    if (this.state !== 'idle') throw new TypeError('sendHeaders: headers were already sent');
    if (this.failIfVmFailed()) return;
    const action = this.host.callVm(this, 'proxy_on_request_headers', this.contextId, this.headers.length, endOfStream ? 1 : 0);
    if (this.applyPendingReply(action)) return;
    // convertVmCallResultToFilterHeadersStatus (docs/envoy-integration.md F5.1, F5.4).
    if (action === 0 || action === 2) {
      this.passHeadersOn();
      this.state = endOfStream || action === 2 ? 'ended' : 'streaming';
    } else if (action === 1 && this.host.options.allowOnHeadersStopIteration) {
      this.state = 'stopped';
    } else {
      this.state = 'stopped-all';
    }
    if (endOfStream && this.state !== 'ended') this.bodyDone = true;
  }

  /** Delivers a body chunk. The emulator keeps a reference: do not write to `chunk` afterwards. */
  sendBody(chunk: Uint8Array, endOfStream: boolean): void {
    if (this.state === 'idle') throw new TypeError('sendBody: send the headers first');
    if (this.bodyDone) throw new TypeError('sendBody: the request already ended');
    if (endOfStream) this.bodyDone = true;
    if (this.state === 'replied' || this.state === 'ended' || this.closed) return;
    if (this.state === 'stopped-all') {
      // StopAll*: Envoy buffers (watermark) without calling this filter (envoy/http/filter.h).
      this.buffer.append(chunk);
      return;
    }
    if (this.failIfVmFailed()) return;
    let view: ByteBuffer;
    if (this.state === 'buffering') {
      // The previous callback buffered: the new chunk joins the buffer before the VM call, and
      // body_size is cumulative (docs/envoy-integration.md F5.4).
      this.buffer.append(chunk);
      if (this.overBufferLimit()) return;
      view = this.buffer;
    } else {
      // Headers held (StopIteration) or passed on: the VM sees just this chunk.
      view = new ByteBuffer();
      view.append(chunk);
    }
    this.bodyView = view;
    this.bodyCallbacks++;
    let action: number;
    try {
      action = this.host.callVm(this, 'proxy_on_request_body', this.contextId, view.length, endOfStream ? 1 : 0);
    } finally {
      this.bodyView = null;
    }
    if (this.applyPendingReply(action)) return;
    // convertVmCallResultToFilterDataStatus: 0 Continue, 1 StopIterationAndBuffer,
    // 2 StopIterationAndWatermark, 3 and above StopIterationNoBuffer.
    if (action === 0) {
      this.passHeadersOn();
      this.forwarded.push(...view.take());
      if (endOfStream) this.state = 'ended';
      else this.state = 'streaming';
    } else if (action === 1 || action === 2) {
      if (view !== this.buffer) this.buffer.absorb(view);
      this.state = 'buffering';
      this.overBufferLimit();
    } else if (view === this.buffer) {
      this.buffer.take();
    }
  }

  sendTrailers(trailers: HeaderPairs): void {
    if (this.state === 'idle') throw new TypeError('sendTrailers: send the headers first');
    if (this.bodyDone) throw new TypeError('sendTrailers: the request already ended');
    this.bodyDone = true;
    this.trailers = trailers.map(([k, v]) => [k.toLowerCase(), v]);
    if (this.state === 'replied' || this.closed || this.state === 'stopped-all') return;
    if (this.failIfVmFailed()) return;
    this.bodyView = this.buffer;
    let action: number;
    try {
      action = this.host.callVm(this, 'proxy_on_request_trailers', this.contextId, this.trailers.length);
    } finally {
      this.bodyView = null;
    }
    if (this.applyPendingReply(action)) return;
    if (action === 0) {
      this.passHeadersOn();
      this.forwarded.push(...this.buffer.take());
      this.state = 'ended';
    }
  }

  /** proxy_continue_stream(HTTP_REQUEST): resume a request the filter stopped. */
  resume(): void {
    if (this.state === 'replied' || this.state === 'ended') return;
    this.passHeadersOn();
    this.forwarded.push(...this.buffer.take());
    this.state = this.bodyDone ? 'ended' : 'streaming';
  }

  /** Ends the stream as Envoy does when it is destroyed: on_log, on_done, on_delete. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.host.failure === null) {
      this.inLogPhase = true;
      try {
        this.host.callVmOptional(this, 'proxy_on_log', this.contextId);
      } finally {
        this.inLogPhase = false;
      }
      this.host.callVmOptional(this, 'proxy_on_done', this.contextId);
      this.host.callVmOptional(this, 'proxy_on_delete', this.contextId);
    }
    this.host.forget(this.contextId);
  }

  // ---- used by the host functions ----

  /** The request header map if the filter may touch it now, else null (→ BAD_ARGUMENT). */
  headerMap(mapType: number, write: boolean): [string, string][] | null {
    if (mapType === MapType.RequestHeaders) {
      if (this.inLogPhase) return write ? null : this.headers;
      // Envoy clears its pointer to the request headers once they were passed on (F5.4).
      return this.headersPassedOn ? null : this.headers;
    }
    if (mapType === MapType.RequestTrailers) return this.trailers !== null && this.state !== 'ended' ? this.trailers : null;
    return null;
  }

  replaceHeaderMap(mapType: number, pairs: [string, string][]): boolean {
    if (this.headerMap(mapType, true) === null) return false;
    if (mapType === MapType.RequestHeaders) this.headers = pairs;
    else this.trailers = pairs;
    return true;
  }

  recordLocalReply(reply: LocalReply): void {
    // Envoy keeps the last one asked for and sends it after the callback returns.
    this.pendingReply = reply;
  }

  private applyPendingReply(action: number): boolean {
    this.lastAction = action;
    if (this.pendingReply === null) return false;
    this.reply = this.pendingReply;
    this.pendingReply = null;
    this.state = 'replied';
    return true;
  }

  private passHeadersOn(): void {
    this.headersPassedOn = true;
  }

  private overBufferLimit(): boolean {
    if (this.buffer.length <= this.host.options.decoderBufferLimitBytes) return false;
    // filter.h: buffering past the decoder limit sends 413 on the request path
    // (docs/envoy-integration.md F5.4).
    this.reply = envoyReply(413, 'request_payload_too_large', 'Payload Too Large');
    this.state = 'replied';
    return true;
  }

  private failIfVmFailed(): boolean {
    if (this.host.failure === null) return false;
    this.reply = envoyReply(503, 'wasm_fail_stream', '');
    this.state = 'replied';
    return true;
  }

  /** Whether the VM may still be called for this stream's request path. */
  get acceptsVmCalls(): boolean {
    return !this.vmStopped;
  }
}

function envoyReply(status: number, details: string, body: string): LocalReply {
  return Object.freeze({ status, details, body: encoder.encode(body), headers: [], grpcStatus: -1, source: 'envoy' });
}

type Resolved = Required<Omit<ProxyWasmHostOptions, 'vmConfiguration' | 'onLog'>> &
  Pick<ProxyWasmHostOptions, 'vmConfiguration' | 'onLog'>;

/** One VM with one plugin (root context), as one Envoy worker runs it. */
export class ProxyWasmHost {
  readonly logs: LogEntry[] = [];
  /** Set when the VM trapped or called proc_exit: Envoy then fails every stream. */
  failure: Error | null = null;
  readonly rootContextId = 1;
  readonly options: Resolved;

  private exports!: FilterExports;
  private memoryBuffer: ArrayBuffer | null = null;
  private bytes = new Uint8Array(0);
  private dataView = new DataView(new ArrayBuffer(0));
  private readonly streams = new Map<number, ProxyWasmStream>();
  private nextContextId = 2;
  /** The context whose callback is running (proxy_set_effective_context may change it). */
  private current: ProxyWasmStream | null = null;
  private currentId = 0;
  private pluginConfiguration: Uint8Array | null = null;
  private vmConfiguration: Uint8Array | null = null;

  private constructor(options: ProxyWasmHostOptions) {
    this.options = {
      allowOnHeadersStopIteration: options.allowOnHeadersStopIteration ?? true,
      decoderBufferLimitBytes: options.decoderBufferLimitBytes ?? 1024 * 1024,
      setCopyReplacesAll: options.setCopyReplacesAll ?? false,
      logLevel: options.logLevel ?? 'info',
      vmConfiguration: options.vmConfiguration,
      onLog: options.onLog,
    };
  }

  /**
   * Loads and starts the module and configures one plugin. `pluginConfiguration` is what Envoy
   * passes as the plugin's `configuration` (a JSON string; objects are serialised; null = empty).
   */
  static async load(
    wasm: string | URL | Uint8Array | WasmModule,
    pluginConfiguration: string | Uint8Array | object | null = null,
    options: ProxyWasmHostOptions = {},
  ): Promise<ProxyWasmHost> {
    const module =
      wasm instanceof wasmApi.Module
        ? wasm
        : await wasmApi.compile(typeof wasm === 'string' || wasm instanceof URL ? await readFile(wasm) : wasm);
    const host = new ProxyWasmHost(options);
    await host.instantiate(module);
    host.start(pluginConfiguration);
    return host;
  }

  /** A new request stream with these request headers (names are lower-cased as Envoy's codec does). */
  newStream(headers: HeaderPairs): ProxyWasmStream {
    const id = this.nextContextId++;
    const stream = new ProxyWasmStream(this, id, headers);
    this.streams.set(id, stream);
    if (this.failure === null) this.callVmOptional(stream, 'proxy_on_context_create', id, this.rootContextId);
    return stream;
  }

  /** Streams created and not yet closed. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** The VM's linear memory size in bytes (for leak checks). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Deletes the root context (plugin removed). */
  shutdown(): void {
    for (const stream of [...this.streams.values()]) stream.close();
    if (this.failure !== null) return;
    this.callVmOptional(null, 'proxy_on_done', this.rootContextId);
    this.callVmOptional(null, 'proxy_on_delete', this.rootContextId);
  }

  forget(contextId: number): void {
    this.streams.delete(contextId);
  }

  private async instantiate(module: WasmModule): Promise<void> {
    const missing = wasmApi.Module.imports(module)
      .filter((i) => i.kind !== 'function' || !ENVOY_PROVIDED_IMPORTS.has(`${i.module}.${i.name}`))
      .map((i) => `${i.module}.${i.name}`);
    if (missing.length > 0) {
      throw new ProxyWasmLoadError(`module imports what Envoy does not provide: ${missing.join(', ')}`);
    }
    const exportNames = new Set(wasmApi.Module.exports(module).map((e) => e.name));
    if (!['proxy_abi_version_0_2_1', 'proxy_abi_version_0_2_0', 'proxy_abi_version_0_1_0'].some((n) => exportNames.has(n))) {
      throw new ProxyWasmLoadError('module exports no proxy_abi_version_* marker');
    }
    if (!exportNames.has('malloc') && !exportNames.has('proxy_on_memory_allocate')) {
      throw new ProxyWasmLoadError('module exports neither malloc nor proxy_on_memory_allocate');
    }
    if (!exportNames.has('memory')) throw new ProxyWasmLoadError('module exports no memory');
    const instance = await wasmApi.instantiate(module, this.importObject(module));
    this.exports = instance.exports as unknown as FilterExports;
  }

  private start(pluginConfiguration: string | Uint8Array | object | null): void {
    const e = this.exports;
    this.guard(() => {
      // cpp-host: _initialize (then main/__main_void when present), else _start
      // (docs/envoy-integration.md F5.1).
      if (e._initialize) {
        e._initialize();
        if (e.__main_void) e.__main_void();
        else if (e.main) e.main(0, 0);
      } else if (e._start) {
        e._start();
      }
    });
    const startFailure = this.vmFailure();
    if (startFailure !== null) throw new ProxyWasmLoadError(`module start failed: ${startFailure.message}`, this.logs);
    this.vmConfiguration = toBytes(this.options.vmConfiguration ?? null);
    this.pluginConfiguration = toBytes(pluginConfiguration);
    this.callVmOptional(null, 'proxy_on_context_create', this.rootContextId, 0);
    const vmStarted = this.callVmOptional(null, 'proxy_on_vm_start', this.rootContextId, this.vmConfiguration.length);
    this.vmConfiguration = null;
    if (vmStarted === 0) throw new PluginConfigurationRejected(this.logs.slice());
    const configured = this.callVmOptional(null, 'proxy_on_configure', this.rootContextId, this.pluginConfiguration.length);
    this.pluginConfiguration = null;
    const configureFailure = this.vmFailure();
    if (configureFailure !== null) throw new ProxyWasmLoadError(`on_configure failed: ${configureFailure.message}`, this.logs);
    if (configured === 0) throw new PluginConfigurationRejected(this.logs.slice());
  }

  // ---- VM calls ----

  /** Calls a request-path callback; a missing export means Continue (cpp-host). */
  callVm(stream: ProxyWasmStream, name: keyof FilterExports, ...args: number[]): number {
    const result = this.callVmOptional(stream, name, ...args);
    return result === undefined ? 0 : result;
  }

  callVmOptional(stream: ProxyWasmStream | null, name: keyof FilterExports, ...args: number[]): number | undefined {
    const fn = this.exports[name] as ((...a: number[]) => number | undefined) | undefined;
    if (fn === undefined || this.failure !== null) return undefined;
    const previous = this.current;
    const previousId = this.currentId;
    this.current = stream;
    this.currentId = stream === null ? this.rootContextId : stream.contextId;
    try {
      let result: number | undefined;
      this.guard(() => {
        result = fn(...args);
      });
      if (this.vmFailure() !== null) return stream === null ? undefined : 1;
      return result === undefined ? undefined : result >>> 0;
    } finally {
      this.current = previous;
      this.currentId = previousId;
    }
  }

  // A method, so TypeScript does not keep a narrowing of `failure` across VM calls that set it.
  private vmFailure(): Error | null {
    return this.failure;
  }

  private guard(body: () => void): void {
    try {
      body();
    } catch (error) {
      // A trap (or proc_exit) fails the VM in Envoy; every later stream gets a 503.
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.log(LogLevel.critical, `wasm VM failed: ${this.failure.message}`);
      const stream = this.current;
      if (stream !== null) stream.recordLocalReply(envoyReply(503, 'wasm_fail_stream', ''));
    }
  }

  // ---- memory helpers ----

  private mem(): Uint8Array {
    const buffer = this.exports.memory.buffer;
    if (buffer !== this.memoryBuffer) {
      // The VM's memory grew: the old ArrayBuffer is detached.
      this.memoryBuffer = buffer;
      this.bytes = new Uint8Array(buffer);
      this.dataView = new DataView(buffer);
    }
    return this.bytes;
  }

  private view(): DataView {
    this.mem();
    return this.dataView;
  }

  private read(ptr: number, size: number): Uint8Array {
    return this.mem().subarray(ptr, ptr + size);
  }

  private readString(ptr: number, size: number): string {
    return decoder.decode(this.read(ptr, size));
  }

  private writeU32(ptr: number, value: number): void {
    this.view().setUint32(ptr, value >>> 0, true);
  }

  /** copyToPointerSize: allocate in the VM with malloc, copy, return (pointer, size). */
  private copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number {
    return this.allocateOut(data.length, ptrPtr, sizePtr, (target, offset) => target.set(data, offset));
  }

  private allocateOut(size: number, ptrPtr: number, sizePtr: number, fill: (target: Uint8Array, offset: number) => void): number {
    if (size === 0) return WasmResult.Ok; // cpp-host: nothing allocated, slots untouched
    const e = this.exports;
    const alloc = e.malloc ?? e.proxy_on_memory_allocate;
    if (alloc === undefined) return WasmResult.InternalFailure;
    const ptr = alloc(size) >>> 0;
    if (ptr === 0) return WasmResult.InvalidMemoryAccess;
    fill(this.mem(), ptr); // after malloc: the memory may have grown
    this.writeU32(ptrPtr, ptr);
    this.writeU32(sizePtr, size);
    return WasmResult.Ok;
  }

  private log(level: number, message: string): void {
    const entry: LogEntry = Object.freeze({
      level,
      levelName: LOG_LEVEL_NAMES[Math.min(Math.max(level, 0), 5)] ?? 'critical',
      message,
      contextId: this.currentId,
    });
    this.logs.push(entry);
    this.options.onLog?.(entry);
  }

  // ---- host functions ----

  private importObject(module: WasmModule): WasmImports {
    const env: Record<string, (...args: never[]) => unknown> = {};
    const wasi: Record<string, (...args: never[]) => unknown> = {};
    const implemented = this.hostFunctions();
    const wasiImplemented = this.wasiFunctions();
    for (const imp of wasmApi.Module.imports(module)) {
      if (imp.module === 'env') {
        env[imp.name] = implemented[imp.name] ?? this.unimplemented(imp.name);
      } else {
        wasi[imp.name] = wasiImplemented[imp.name] ?? (() => 52); // ENOSYS, like cpp-host's stubs
      }
    }
    return { env, wasi_snapshot_preview1: wasi, wasi_unstable: wasi };
  }

  private unimplemented(name: string): () => number {
    return () => {
      this.log(LogLevel.warn, `emulator: ${name} is not modelled; returning UNIMPLEMENTED`);
      return WasmResult.Unimplemented;
    };
  }

  private headerMapFor(mapType: number, write: boolean): [string, string][] | null {
    const stream = this.current;
    if (stream === null) return null;
    return stream.headerMap(mapType, write);
  }

  private hostFunctions(): Record<string, (...args: never[]) => unknown> {
    const fns: Record<string, (...args: number[]) => unknown> = {
      proxy_log: (level, ptr, size) => {
        this.log(level, this.readString(ptr, size));
        return WasmResult.Ok;
      },
      proxy_get_log_level: (retPtr) => {
        this.writeU32(retPtr, LogLevel[this.options.logLevel]);
        return WasmResult.Ok;
      },
      proxy_get_current_time_nanoseconds: (retPtr) => {
        this.view().setBigUint64(retPtr, BigInt(Date.now()) * 1_000_000n, true);
        return WasmResult.Ok;
      },
      proxy_set_effective_context: (contextId) => {
        if (contextId === this.rootContextId) {
          this.current = null;
          this.currentId = contextId;
          return WasmResult.Ok;
        }
        const stream = this.streams.get(contextId);
        if (stream === undefined) return WasmResult.BadArgument;
        this.current = stream;
        this.currentId = contextId;
        return WasmResult.Ok;
      },
      proxy_done: () => WasmResult.Ok,
      proxy_set_tick_period_milliseconds: () => WasmResult.Ok,
      proxy_get_property: () => WasmResult.NotFound,
      proxy_get_header_map_value: (mapType, keyPtr, keySize, retPtr, retSize) => {
        const map = this.headerMapFor(mapType, false);
        if (map === null) return WasmResult.BadArgument;
        const key = this.readString(keyPtr, keySize).toLowerCase();
        const pair = map.find(([k]) => k === key);
        if (pair === undefined) return WasmResult.NotFound;
        return this.copyOut(encoder.encode(pair[1]), retPtr, retSize);
      },
      proxy_get_header_map_pairs: (mapType, retPtr, retSize) => {
        const map = this.headerMapFor(mapType, false);
        if (map === null) return WasmResult.BadArgument;
        return this.copyOut(serializeHeaderMap(map), retPtr, retSize);
      },
      proxy_get_header_map_size: (mapType, retSize) => {
        const map = this.headerMapFor(mapType, false);
        if (map === null) return WasmResult.BadArgument;
        this.writeU32(retSize, serializeHeaderMap(map).length);
        return WasmResult.Ok;
      },
      proxy_set_header_map_pairs: (mapType, ptr, size) => {
        const stream = this.current;
        if (stream === null) return WasmResult.BadArgument;
        let pairs: [string, string][];
        try {
          pairs = deserializeHeaderMap(this.read(ptr, size)).map(([k, v]) => [k.toLowerCase(), v]);
        } catch {
          return WasmResult.SerializationFailure;
        }
        return stream.replaceHeaderMap(mapType, pairs) ? WasmResult.Ok : WasmResult.BadArgument;
      },
      proxy_add_header_map_value: (mapType, keyPtr, keySize, valuePtr, valueSize) => {
        const map = this.headerMapFor(mapType, true);
        if (map === null) return WasmResult.BadArgument;
        map.push([this.readString(keyPtr, keySize).toLowerCase(), this.readString(valuePtr, valueSize)]);
        return WasmResult.Ok;
      },
      proxy_replace_header_map_value: (mapType, keyPtr, keySize, valuePtr, valueSize) => {
        const map = this.headerMapFor(mapType, true);
        if (map === null) return WasmResult.BadArgument;
        const key = this.readString(keyPtr, keySize).toLowerCase();
        const value = this.readString(valuePtr, valueSize);
        const first = map.findIndex(([k]) => k === key);
        if (first < 0) {
          map.push([key, value]);
        } else if (this.options.setCopyReplacesAll) {
          removeAll(map, key);
          map.push([key, value]);
        } else {
          map[first] = [key, value]; // setCopy without the runtime flag: first copy only
        }
        return WasmResult.Ok;
      },
      proxy_remove_header_map_value: (mapType, keyPtr, keySize) => {
        const map = this.headerMapFor(mapType, true);
        if (map === null) return WasmResult.BadArgument;
        removeAll(map, this.readString(keyPtr, keySize).toLowerCase());
        return WasmResult.Ok;
      },
      proxy_get_buffer_status: (bufferType, retSize, retFlags) => {
        const data = this.bufferFor(bufferType);
        if (data === null) return WasmResult.NotFound;
        this.writeU32(retSize, data.length);
        this.writeU32(retFlags, 0);
        return WasmResult.Ok;
      },
      proxy_get_buffer_bytes: (bufferType, start, maxSize, retPtr, retSize) => {
        const data = this.bufferFor(bufferType);
        if (data === null) return WasmResult.NotFound;
        start >>>= 0;
        maxSize >>>= 0;
        if (start > data.length) return WasmResult.BadArgument;
        const end = Math.min(data.length, start + maxSize); // cpp-host: "don't overread"
        if (data instanceof Uint8Array) return this.copyOut(data.subarray(start, end), retPtr, retSize);
        return this.allocateOut(end - start, retPtr, retSize, (target, offset) => data.copyRange(start, end, target, offset));
      },
      proxy_set_buffer_bytes: (bufferType, start, size, ptr, length) => {
        const stream = this.current;
        if (bufferType !== BufferType.HttpRequestBody || stream === null || stream.bodyView === null) {
          return WasmResult.NotFound;
        }
        const body = stream.bodyView;
        start >>>= 0;
        if (start > body.length) return WasmResult.BadArgument;
        body.splice(start, Math.min(size >>> 0, body.length - start), this.read(ptr, length).slice());
        return WasmResult.Ok;
      },
      proxy_send_local_response: (status, detailsPtr, detailsSize, bodyPtr, bodySize, headersPtr, headersSize, grpc) => {
        const stream = this.current;
        if (stream === null) return WasmResult.BadArgument;
        let headers: [string, string][];
        try {
          headers = deserializeHeaderMap(this.read(headersPtr, headersSize)).map(([k, v]) => [k.toLowerCase(), v]);
        } catch {
          return WasmResult.SerializationFailure;
        }
        stream.recordLocalReply(
          Object.freeze({
            status,
            details: this.readString(detailsPtr, detailsSize),
            body: this.read(bodyPtr, bodySize).slice(),
            headers: Object.freeze(headers),
            grpcStatus: grpc | 0,
            source: 'plugin' as const,
          }),
        );
        return WasmResult.Ok;
      },
      proxy_continue_stream: (streamType) => {
        const stream = this.current;
        if (stream === null || streamType !== StreamType.HttpRequest) return WasmResult.BadArgument;
        stream.resume();
        return WasmResult.Ok;
      },
      proxy_continue_request: () => {
        const stream = this.current;
        if (stream === null) return WasmResult.BadArgument;
        stream.resume();
        return WasmResult.Ok;
      },
      proxy_clear_route_cache: () => WasmResult.Ok,
    };
    return fns as Record<string, (...args: never[]) => unknown>;
  }

  private bufferFor(bufferType: number): Uint8Array | ByteBuffer | null {
    if (bufferType === BufferType.PluginConfiguration) return this.pluginConfiguration;
    if (bufferType === BufferType.VmConfiguration) return this.vmConfiguration;
    if (bufferType === BufferType.HttpRequestBody) return this.current?.bodyView ?? null;
    return null;
  }

  private wasiFunctions(): Record<string, (...args: never[]) => unknown> {
    const fns: Record<string, (...args: never[]) => unknown> = {
      // stdout → info log, stderr → error log (cpp-host).
      fd_write: (fd: number, iovs: number, iovsLength: number, writtenPtr: number) => {
        if (fd !== 1 && fd !== 2) return 8; // EBADF
        const view = this.view();
        const parts: Uint8Array[] = [];
        let written = 0;
        for (let i = 0; i < iovsLength; i++) {
          const ptr = view.getUint32(iovs + i * 8, true);
          const length = view.getUint32(iovs + i * 8 + 4, true);
          parts.push(this.read(ptr, length).slice());
          written += length;
        }
        this.log(fd === 1 ? LogLevel.info : LogLevel.error, decoder.decode(Buffer.concat(parts)));
        this.writeU32(writtenPtr, written);
        return 0;
      },
      clock_time_get: (_id: number, _precision: bigint, retPtr: number) => {
        this.view().setBigUint64(retPtr, process.hrtime.bigint(), true);
        return 0;
      },
      random_get: (ptr: number, length: number) => {
        randomFillSync(this.read(ptr, length));
        return 0;
      },
      environ_sizes_get: (countPtr: number, sizePtr: number) => {
        this.writeU32(countPtr, 0);
        this.writeU32(sizePtr, 0);
        return 0;
      },
      environ_get: () => 0,
      args_sizes_get: (countPtr: number, sizePtr: number) => {
        this.writeU32(countPtr, 0);
        this.writeU32(sizePtr, 0);
        return 0;
      },
      args_get: () => 0,
      fd_prestat_get: () => 8, // EBADF: no preopened directories
      proc_exit: (code: number) => {
        // cpp-host marks the VM as failed (docs/envoy-integration.md F5.2).
        throw new Error(`proc_exit(${code})`);
      },
    };
    return fns;
  }
}

function removeAll(map: [string, string][], key: string): void {
  let write = 0;
  for (const pair of map) if (pair[0] !== key) map[write++] = pair;
  map.length = write;
}

function toBytes(value: string | Uint8Array | object | null): Uint8Array {
  if (value === null) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  return encoder.encode(JSON.stringify(value));
}
