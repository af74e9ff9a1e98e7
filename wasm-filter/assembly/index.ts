// The module's exports: the proxy-wasm ABI 0.2.1 entry points Envoy looks up
// (docs/envoy-integration.md F5.1). Missing optional callbacks (response path, on_log, ticks) mean
// Continue / no-op in cpp-host.

import "./abort"; // compiled for `--use abort=`, never called directly
import { onConfigure, onContextCreate, onDelete, onRequestBody, onRequestHeaders, onRequestTrailers } from "./filter";

export function proxy_abi_version_0_2_1(): void {}

/** cpp-host looks up `malloc` first; the host allocates every buffer it returns to us with it. */
export function malloc(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_vm_start(_rootContextId: u32, _vmConfigurationSize: u32): bool {
  return true;
}

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  onContextCreate(contextId, parentContextId);
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): bool {
  return onConfigure(rootContextId, pluginConfigurationSize);
}

export function proxy_on_request_headers(contextId: u32, _headers: u32, endOfStream: bool): u32 {
  return onRequestHeaders(contextId, endOfStream);
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  return onRequestBody(contextId, bodySize, endOfStream);
}

export function proxy_on_request_trailers(contextId: u32, _trailers: u32): u32 {
  return onRequestTrailers(contextId);
}

export function proxy_on_done(_contextId: u32): bool {
  return true;
}

export function proxy_on_delete(contextId: u32): void {
  onDelete(contextId);
}
