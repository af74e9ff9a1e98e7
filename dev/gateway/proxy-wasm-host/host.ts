/** The VM: one proxy-wasm module with one plugin (root context), as one Envoy worker runs it (F5.1). */
import { readFile } from 'node:fs/promises';
import {
  ENVOY_PROVIDED_IMPORTS,
  BufferType,
  LOG_LEVEL_NAMES,
  LogLevel,
  PluginConfigurationRejected,
  ProxyWasmLoadError,
  WasmResult,
  decoder,
  envoyReply,
  toBytes,
  wasmApi,
  type FilterExports,
  type HeaderPairs,
  type LogEntry,
  type ProxyWasmHostOptions,
  type WasmModule,
} from './abi.js';
import type { ByteBuffer } from './byte-buffer.js';
import { importObject } from './host-functions.js';
import { ProxyWasmStream } from './stream.js';

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
    const instance = await wasmApi.instantiate(module, importObject(this, module));
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

  // ---- used by host-functions.ts ----

  /** The stream whose callback is running (null: the root context). */
  get currentStream(): ProxyWasmStream | null {
    return this.current;
  }

  /** proxy_set_effective_context: false when no such context exists. */
  setEffectiveContext(contextId: number): boolean {
    if (contextId === this.rootContextId) {
      this.current = null;
      this.currentId = contextId;
      return true;
    }
    const stream = this.streams.get(contextId);
    if (stream === undefined) return false;
    this.current = stream;
    this.currentId = contextId;
    return true;
  }

  // ---- memory helpers ----

  mem(): Uint8Array {
    const buffer = this.exports.memory.buffer;
    if (buffer !== this.memoryBuffer) {
      // The VM's memory grew: the old ArrayBuffer is detached.
      this.memoryBuffer = buffer;
      this.bytes = new Uint8Array(buffer);
      this.dataView = new DataView(buffer);
    }
    return this.bytes;
  }

  view(): DataView {
    this.mem();
    return this.dataView;
  }

  read(ptr: number, size: number): Uint8Array {
    return this.mem().subarray(ptr, ptr + size);
  }

  readString(ptr: number, size: number): string {
    return decoder.decode(this.read(ptr, size));
  }

  writeU32(ptr: number, value: number): void {
    this.view().setUint32(ptr, value >>> 0, true);
  }

  /** copyToPointerSize: allocate in the VM with malloc, copy, return (pointer, size). */
  copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number {
    return this.allocateOut(data.length, ptrPtr, sizePtr, (target, offset) => target.set(data, offset));
  }

  allocateOut(size: number, ptrPtr: number, sizePtr: number, fill: (target: Uint8Array, offset: number) => void): number {
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

  log(level: number, message: string): void {
    const entry: LogEntry = Object.freeze({
      level,
      levelName: LOG_LEVEL_NAMES[Math.min(Math.max(level, 0), 5)] ?? 'critical',
      message,
      contextId: this.currentId,
    });
    this.logs.push(entry);
    this.options.onLog?.(entry);
  }

  headerMapFor(mapType: number, write: boolean): [string, string][] | null {
    const stream = this.current;
    if (stream === null) return null;
    return stream.headerMap(mapType, write);
  }


  bufferFor(bufferType: number): Uint8Array | ByteBuffer | null {
    if (bufferType === BufferType.PluginConfiguration) return this.pluginConfiguration;
    if (bufferType === BufferType.VmConfiguration) return this.vmConfiguration;
    if (bufferType === BufferType.HttpRequestBody) return this.current?.bodyView ?? null;
    return null;
  }

}

