// Raw proxy-wasm ABI 0.2.1 host functions, exactly as Envoy (proxy-wasm-cpp-host) registers them in
// module `env` (docs/envoy-integration.md F5.2). Nothing else is imported: Envoy provides no
// `env.abort`, `env.seed` or `env.trace`, and a module importing them fails to load. Every function
// returns a proxy_status_t (OK 0, NOT_FOUND 1, BAD_ARGUMENT 2, …). Typed wrappers live in host.ts.

@external("env", "proxy_log")
export declare function proxy_log(level: u32, messagePtr: usize, messageSize: usize): u32;

@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(
  bufferType: u32,
  start: usize,
  maxSize: usize,
  returnPtrPtr: usize,
  returnSizePtr: usize,
): u32;

@external("env", "proxy_get_header_map_value")
export declare function proxy_get_header_map_value(
  mapType: u32,
  keyPtr: usize,
  keySize: usize,
  returnValuePtrPtr: usize,
  returnValueSizePtr: usize,
): u32;

@external("env", "proxy_replace_header_map_value")
export declare function proxy_replace_header_map_value(
  mapType: u32,
  keyPtr: usize,
  keySize: usize,
  valuePtr: usize,
  valueSize: usize,
): u32;

@external("env", "proxy_remove_header_map_value")
export declare function proxy_remove_header_map_value(mapType: u32, keyPtr: usize, keySize: usize): u32;

@external("env", "proxy_send_local_response")
export declare function proxy_send_local_response(
  statusCode: u32,
  detailsPtr: usize,
  detailsSize: usize,
  bodyPtr: usize,
  bodySize: usize,
  headersPtr: usize,
  headersSize: usize,
  grpcStatus: i32,
): u32;
