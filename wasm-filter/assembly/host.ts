// Typed wrappers over the raw imports in imports.ts. The filter logic never touches a raw pointer
// returned by the host except through HostBytes, which owns it (the host allocated it with our
// exported malloc and handed ownership to us, docs/envoy-integration.md F5.1).

import {
  proxy_get_buffer_bytes,
  proxy_get_header_map_value,
  proxy_log,
  proxy_remove_header_map_value,
  proxy_replace_header_map_value,
  proxy_send_local_response,
} from "./imports";

/** proxy_status_t (docs/envoy-integration.md F5.2). */
export namespace Status {
  export const OK: u32 = 0;
  export const NOT_FOUND: u32 = 1;
  export const BAD_ARGUMENT: u32 = 2;
}

/**
 * proxy_action_t: Pause from headers becomes StopIteration only with allow_on_headers_stop_iteration
 * (F5.4).
 */
export namespace Action {
  export const CONTINUE: u32 = 0;
  export const PAUSE: u32 = 1;
}

/** proxy_log levels (F5.2). */
export namespace LogLevel {
  export const TRACE: u32 = 0;
  export const DEBUG: u32 = 1;
  export const INFO: u32 = 2;
  export const WARN: u32 = 3;
  export const ERROR: u32 = 4;
  export const CRITICAL: u32 = 5;
}

const MAP_REQUEST_HEADERS: u32 = 0;
export const BUFFER_REQUEST_BODY: u32 = 0;
export const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const GRPC_STATUS_NONE: i32 = -1;

// Return slots for host calls that hand back (pointer, size). Single-threaded VM: no sharing issue.
const RETURN_PTR: usize = memory.data(4);
const RETURN_SIZE: usize = memory.data(4);

/** Bytes the host allocated in our memory; `release()` gives them back to the allocator. */
@final
export class HostBytes {
  ptr: usize = 0;
  size: usize = 0;

  release(): void {
    // An empty result is never allocated (pointer 0), so there is nothing to free.
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
    this.size = 0;
  }
}

// cpp-host writes nothing for an empty result, so the slots are cleared before every call.
// @ts-ignore: decorator
@inline function clearReturnSlots(): void {
  store<u32>(RETURN_PTR, 0);
  store<u32>(RETURN_SIZE, 0);
}

// @ts-ignore: decorator
@inline function takeReturn(status: u32, out: HostBytes): u32 {
  if (status == Status.OK) {
    out.ptr = <usize>load<u32>(RETURN_PTR);
    out.size = <usize>load<u32>(RETURN_SIZE);
  } else {
    out.ptr = 0;
    out.size = 0;
  }
  return status;
}

export function log(level: u32, message: string): void {
  const bytes = String.UTF8.encode(message);
  proxy_log(level, changetype<usize>(bytes), <usize>bytes.byteLength);
}

/** Reads `[start, start + maxSize)` of a host buffer into `out` (which must then be released). */
export function getBufferBytes(bufferType: u32, start: usize, maxSize: usize, out: HostBytes): u32 {
  clearReturnSlots();
  return takeReturn(proxy_get_buffer_bytes(bufferType, start, maxSize, RETURN_PTR, RETURN_SIZE), out);
}

/** First value of a request header (Envoy returns only the first of repeated values); NOT_FOUND if absent. */
export function getRequestHeader(name: ArrayBuffer, out: HostBytes): u32 {
  clearReturnSlots();
  const status = proxy_get_header_map_value(
    MAP_REQUEST_HEADERS,
    changetype<usize>(name),
    <usize>name.byteLength,
    RETURN_PTR,
    RETURN_SIZE,
  );
  return takeReturn(status, out);
}

export function replaceRequestHeader(name: ArrayBuffer, valuePtr: usize, valueSize: usize): u32 {
  return proxy_replace_header_map_value(
    MAP_REQUEST_HEADERS,
    changetype<usize>(name),
    <usize>name.byteLength,
    valuePtr,
    valueSize,
  );
}

export function removeRequestHeader(name: ArrayBuffer): u32 {
  return proxy_remove_header_map_value(MAP_REQUEST_HEADERS, changetype<usize>(name), <usize>name.byteLength);
}

/**
 * Serialises header pairs in the ABI map format (docs/envoy-integration.md F5.3): u32 count, then (u32
 * key size, u32 value size) per pair, then each key and value followed by a NUL. All little-endian.
 */
export function serializeHeaderMap(pairs: Array<string>): ArrayBuffer {
  const count = pairs.length >>> 1;
  const encoded = new Array<ArrayBuffer>(pairs.length);
  let size = 4 + count * 8;
  for (let i = 0; i < pairs.length; i++) {
    const bytes = String.UTF8.encode(pairs[i]);
    encoded[i] = bytes;
    size += bytes.byteLength + 1;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, <u32>count);
  let data = base + 4 + <usize>count * 8;
  for (let i = 0; i < pairs.length; i++) {
    const bytes = encoded[i];
    const length = <usize>bytes.byteLength;
    store<u32>(base + 4 + <usize>i * 4, <u32>length);
    memory.copy(data, changetype<usize>(bytes), length);
    store<u8>(data + length, 0);
    data += length + 1;
  }
  return out;
}

/**
 * Asks the host to answer the stream itself. Envoy defers the reply until the current callback
 * returns and then stops calling the VM for this stream's request path (F5.4 "Buffer limits").
 * `headers` is a flat [name, value, name, value, …] list.
 */
export function sendLocalResponse(statusCode: u32, details: string, body: string, headers: Array<string>): u32 {
  const detailBytes = String.UTF8.encode(details);
  const bodyBytes = String.UTF8.encode(body);
  const headerBytes = serializeHeaderMap(headers);
  return proxy_send_local_response(
    statusCode,
    changetype<usize>(detailBytes),
    <usize>detailBytes.byteLength,
    changetype<usize>(bodyBytes),
    <usize>bodyBytes.byteLength,
    changetype<usize>(headerBytes),
    <usize>headerBytes.byteLength,
    GRPC_STATUS_NONE,
  );
}
