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
export {
  ENVOY_HOST_FUNCTIONS,
  ENVOY_PROVIDED_IMPORTS,
  ENVOY_WASI_FUNCTIONS,
  LogLevel,
  PluginConfigurationRejected,
  ProxyWasmLoadError,
  WasmResult,
  deserializeHeaderMap,
  serializeHeaderMap,
  type HeaderPair,
  type HeaderPairs,
  type LocalReply,
  type LogEntry,
  type LogLevelName,
  type ProxyWasmHostOptions,
  type WasmModule,
} from './proxy-wasm-host/abi.js';
export { ProxyWasmHost } from './proxy-wasm-host/host.js';
export { ProxyWasmStream, type RequestState } from './proxy-wasm-host/stream.js';
