/**
 * The functions the emulator gives a filter: every `env.proxy_*` call Envoy's host (proxy-wasm-cpp-host)
 * answers on the request path, and the WASI calls it supports (docs/envoy-integration.md F5.2, F5.3).
 * A host function Envoy registers but this file does not model answers UNIMPLEMENTED (host.ts).
 */
import { randomFillSync } from 'node:crypto';
import { BufferType, LogLevel, StreamType, WasmResult, decoder, deserializeHeaderMap, encoder, serializeHeaderMap, wasmApi, type WasmImports, type WasmModule } from './abi.js';
import type { ProxyWasmHost } from './host.js';

type HostFunction = (...args: never[]) => unknown;

/** The imports the module asks for: the modelled functions, UNIMPLEMENTED (logged) or ENOSYS for the rest. */
export function importObject(h: ProxyWasmHost, module: WasmModule): WasmImports {
  const env: Record<string, HostFunction> = {};
  const wasi: Record<string, HostFunction> = {};
  const implemented = proxyFunctions(h);
  const wasiImplemented = wasiFunctions(h);
  for (const imp of wasmApi.Module.imports(module)) {
    if (imp.module === 'env') {
      env[imp.name] =
        implemented[imp.name] ??
        (() => {
          h.log(LogLevel.warn, `emulator: ${imp.name} is not modelled; returning UNIMPLEMENTED`);
          return WasmResult.Unimplemented;
        });
    } else {
      wasi[imp.name] = wasiImplemented[imp.name] ?? (() => 52); // ENOSYS, like cpp-host's stubs
    }
  }
  return { env, wasi_snapshot_preview1: wasi, wasi_unstable: wasi };
}

export function proxyFunctions(h: ProxyWasmHost): Record<string, HostFunction> {
  const fns: Record<string, (...args: number[]) => unknown> = {
    proxy_log: (level, ptr, size) => {
      h.log(level, h.readString(ptr, size));
      return WasmResult.Ok;
    },
    proxy_get_log_level: (retPtr) => {
      h.writeU32(retPtr, LogLevel[h.options.logLevel]);
      return WasmResult.Ok;
    },
    proxy_get_current_time_nanoseconds: (retPtr) => {
      h.view().setBigUint64(retPtr, BigInt(Date.now()) * 1_000_000n, true);
      return WasmResult.Ok;
    },
    proxy_set_effective_context: (contextId) => (h.setEffectiveContext(contextId) ? WasmResult.Ok : WasmResult.BadArgument),
    proxy_done: () => WasmResult.Ok,
    proxy_set_tick_period_milliseconds: () => WasmResult.Ok,
    proxy_get_property: () => WasmResult.NotFound,
    proxy_get_header_map_value: (mapType, keyPtr, keySize, retPtr, retSize) => {
      const map = h.headerMapFor(mapType, false);
      if (map === null) return WasmResult.BadArgument;
      const key = h.readString(keyPtr, keySize).toLowerCase();
      const pair = map.find(([k]) => k === key);
      if (pair === undefined) return WasmResult.NotFound;
      return h.copyOut(encoder.encode(pair[1]), retPtr, retSize);
    },
    proxy_get_header_map_pairs: (mapType, retPtr, retSize) => {
      const map = h.headerMapFor(mapType, false);
      if (map === null) return WasmResult.BadArgument;
      return h.copyOut(serializeHeaderMap(map), retPtr, retSize);
    },
    proxy_get_header_map_size: (mapType, retSize) => {
      const map = h.headerMapFor(mapType, false);
      if (map === null) return WasmResult.BadArgument;
      h.writeU32(retSize, serializeHeaderMap(map).length);
      return WasmResult.Ok;
    },
    proxy_set_header_map_pairs: (mapType, ptr, size) => {
      const stream = h.currentStream;
      if (stream === null) return WasmResult.BadArgument;
      let pairs: [string, string][];
      try {
        pairs = deserializeHeaderMap(h.read(ptr, size)).map(([k, v]) => [k.toLowerCase(), v]);
      } catch {
        return WasmResult.SerializationFailure;
      }
      return stream.replaceHeaderMap(mapType, pairs) ? WasmResult.Ok : WasmResult.BadArgument;
    },
    proxy_add_header_map_value: (mapType, keyPtr, keySize, valuePtr, valueSize) => {
      const map = h.headerMapFor(mapType, true);
      if (map === null) return WasmResult.BadArgument;
      map.push([h.readString(keyPtr, keySize).toLowerCase(), h.readString(valuePtr, valueSize)]);
      return WasmResult.Ok;
    },
    proxy_replace_header_map_value: (mapType, keyPtr, keySize, valuePtr, valueSize) => {
      const map = h.headerMapFor(mapType, true);
      if (map === null) return WasmResult.BadArgument;
      const key = h.readString(keyPtr, keySize).toLowerCase();
      const value = h.readString(valuePtr, valueSize);
      const first = map.findIndex(([k]) => k === key);
      if (first < 0) {
        map.push([key, value]);
      } else if (h.options.setCopyReplacesAll) {
        removeAll(map, key);
        map.push([key, value]);
      } else {
        map[first] = [key, value]; // setCopy without the runtime flag: first copy only
      }
      return WasmResult.Ok;
    },
    proxy_remove_header_map_value: (mapType, keyPtr, keySize) => {
      const map = h.headerMapFor(mapType, true);
      if (map === null) return WasmResult.BadArgument;
      removeAll(map, h.readString(keyPtr, keySize).toLowerCase());
      return WasmResult.Ok;
    },
    proxy_get_buffer_status: (bufferType, retSize, retFlags) => {
      const data = h.bufferFor(bufferType);
      if (data === null) return WasmResult.NotFound;
      h.writeU32(retSize, data.length);
      h.writeU32(retFlags, 0);
      return WasmResult.Ok;
    },
    proxy_get_buffer_bytes: (bufferType, start, maxSize, retPtr, retSize) => {
      const data = h.bufferFor(bufferType);
      if (data === null) return WasmResult.NotFound;
      start >>>= 0;
      maxSize >>>= 0;
      if (start > data.length) return WasmResult.BadArgument;
      const end = Math.min(data.length, start + maxSize); // cpp-host: "don't overread"
      if (data instanceof Uint8Array) return h.copyOut(data.subarray(start, end), retPtr, retSize);
      return h.allocateOut(end - start, retPtr, retSize, (target, offset) => data.copyRange(start, end, target, offset));
    },
    proxy_set_buffer_bytes: (bufferType, start, size, ptr, length) => {
      const stream = h.currentStream;
      if (bufferType !== BufferType.HttpRequestBody || stream === null || stream.bodyView === null) {
        return WasmResult.NotFound;
      }
      const body = stream.bodyView;
      start >>>= 0;
      if (start > body.length) return WasmResult.BadArgument;
      body.splice(start, Math.min(size >>> 0, body.length - start), h.read(ptr, length).slice());
      return WasmResult.Ok;
    },
    proxy_send_local_response: (status, detailsPtr, detailsSize, bodyPtr, bodySize, headersPtr, headersSize, grpc) => {
      const stream = h.currentStream;
      if (stream === null) return WasmResult.BadArgument;
      let headers: [string, string][];
      try {
        headers = deserializeHeaderMap(h.read(headersPtr, headersSize)).map(([k, v]) => [k.toLowerCase(), v]);
      } catch {
        return WasmResult.SerializationFailure;
      }
      stream.recordLocalReply(
        Object.freeze({
          status,
          details: h.readString(detailsPtr, detailsSize),
          body: h.read(bodyPtr, bodySize).slice(),
          headers: Object.freeze(headers),
          grpcStatus: grpc | 0,
          source: 'plugin' as const,
        }),
      );
      return WasmResult.Ok;
    },
    proxy_continue_stream: (streamType) => {
      const stream = h.currentStream;
      if (stream === null || streamType !== StreamType.HttpRequest) return WasmResult.BadArgument;
      stream.resume();
      return WasmResult.Ok;
    },
    proxy_continue_request: () => {
      const stream = h.currentStream;
      if (stream === null) return WasmResult.BadArgument;
      stream.resume();
      return WasmResult.Ok;
    },
    proxy_clear_route_cache: () => WasmResult.Ok,
  };
  return fns as Record<string, (...args: never[]) => unknown>;
}

export function wasiFunctions(h: ProxyWasmHost): Record<string, HostFunction> {
  const fns: Record<string, (...args: never[]) => unknown> = {
    // stdout → info log, stderr → error log (cpp-host).
    fd_write: (fd: number, iovs: number, iovsLength: number, writtenPtr: number) => {
      if (fd !== 1 && fd !== 2) return 8; // EBADF
      const view = h.view();
      const parts: Uint8Array[] = [];
      let written = 0;
      for (let i = 0; i < iovsLength; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const length = view.getUint32(iovs + i * 8 + 4, true);
        parts.push(h.read(ptr, length).slice());
        written += length;
      }
      h.log(fd === 1 ? LogLevel.info : LogLevel.error, decoder.decode(Buffer.concat(parts)));
      h.writeU32(writtenPtr, written);
      return 0;
    },
    clock_time_get: (_id: number, _precision: bigint, retPtr: number) => {
      h.view().setBigUint64(retPtr, process.hrtime.bigint(), true);
      return 0;
    },
    random_get: (ptr: number, length: number) => {
      randomFillSync(h.read(ptr, length));
      return 0;
    },
    environ_sizes_get: (countPtr: number, sizePtr: number) => {
      h.writeU32(countPtr, 0);
      h.writeU32(sizePtr, 0);
      return 0;
    },
    environ_get: () => 0,
    args_sizes_get: (countPtr: number, sizePtr: number) => {
      h.writeU32(countPtr, 0);
      h.writeU32(sizePtr, 0);
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

function removeAll(map: [string, string][], key: string): void {
  let write = 0;
  for (const pair of map) if (pair[0] !== key) map[write++] = pair;
  map.length = write;
}
