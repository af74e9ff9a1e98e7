// The names fixed between the Envoy/Istio/compose configuration and the TrustPlane server, filter and
// CLI. The configuration tests compare every shipped file against these, so a rename must happen here
// and in the code on purpose.

export const HEADERS = Object.freeze({
  passport: 'x-trustplane-passport',
  proof: 'x-trustplane-proof',
  bodySha256: 'x-trustplane-body-sha256',
  reason: 'x-trustplane-reason',
});

/** Set by the authz server on allow; a client-sent copy must never reach the upstream. */
export const IDENTITY_HEADERS: readonly string[] = Object.freeze([
  'x-trustplane-subject',
  'x-trustplane-issuer',
  'x-trustplane-trust-domain',
  'x-trustplane-key-binding',
  'x-trustplane-route',
  'x-trustplane-decision-id',
]);

export const CONTEXT_KEYS = Object.freeze({
  route: 'trustplane_route',
  mode: 'trustplane_mode',
  body: 'trustplane_body',
});

export const MAX_BODY_BYTES = 1048576;

/** The wasm filter's plugin configuration for plain Envoy. */
export const WASM_PLUGIN_CONFIG = Object.freeze({
  header: HEADERS.bodySha256,
  max_body_bytes: MAX_BODY_BYTES,
  require_passport_header: HEADERS.passport,
  log_level: 'info',
});

export const WASM = Object.freeze({
  filterName: 'envoy.filters.http.wasm',
  rootId: 'trustplane_body_hash',
  runtime: 'envoy.wasm.runtime.v8',
  containerPath: '/etc/envoy/trustplane_filter.wasm',
  buildPath: 'wasm-filter/build/trustplane_filter.wasm',
});

export const AUTHZ = Object.freeze({
  grpcPort: 9191,
  httpPort: 9464,
  brokerHttpPort: 9465,
  brokerSocket: '/var/run/trustplane/broker.sock',
  serverConfigPath: '/etc/trustplane/server.yaml',
  brokerConfigPath: '/etc/trustplane/broker.yaml',
  bundleDir: '/etc/trustplane/bundle',
  cli: ['node', 'dist/cli/src/main.js'],
});

/**
 * Top-level keys of the shipped server.yaml, in order. Each is a setting of authz-server/src/config.ts
 * (docs/configuration.md); test/envoy/istio.test.ts also loads the file through that reader.
 */
export const SERVER_CONFIG_KEYS: readonly string[] = Object.freeze([
  'listen', 'bundle', 'replay', 'body', 'audit', 'mode', 'workers',
]);

export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${what}: expected a mapping`);
  }
  return value as Record<string, unknown>;
}

export function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${what}: expected a list`);
  return value;
}
