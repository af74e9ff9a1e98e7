import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { findRepoRoot } from '../support/envoy-config-validator.js';
import {
  AUTHZ,
  CONTEXT_KEYS,
  HEADERS,
  IDENTITY_HEADERS,
  MAX_BODY_BYTES,
  WASM,
  WASM_PLUGIN_CONFIG,
  asArray,
  asObject,
} from './contract.js';

// What the Envoy config promises the authz server and the wasm filter, beyond schema validity.

const repo = findRepoRoot();
type Obj = Record<string, unknown>;

function load(file: string): Obj {
  return asObject(parse(readFileSync(join(repo, file), 'utf8')), file);
}

function listener(bootstrap: Obj): Obj {
  const listeners = asArray(asObject(bootstrap['static_resources'], 'static_resources')['listeners'], 'listeners');
  assert.equal(listeners.length, 1);
  return asObject(listeners[0], 'listener');
}

function hcm(bootstrap: Obj): Obj {
  const chains = asArray(listener(bootstrap)['filter_chains'], 'filter_chains');
  const filters = asArray(asObject(chains[0], 'filter_chain')['filters'], 'filters');
  const first = asObject(filters[0], 'filter');
  assert.equal(first['name'], 'envoy.filters.network.http_connection_manager');
  return asObject(first['typed_config'], 'hcm');
}

function httpFilters(bootstrap: Obj): Obj[] {
  return asArray(hcm(bootstrap)['http_filters'], 'http_filters').map((f) => asObject(f, 'http filter'));
}

function filterConfig(bootstrap: Obj, name: string): Obj {
  const found = httpFilters(bootstrap).find((f) => f['name'] === name);
  assert.ok(found !== undefined, `no http filter ${name}`);
  return asObject(found['typed_config'], name);
}

function routes(bootstrap: Obj): Obj[] {
  const vhosts = asArray(asObject(hcm(bootstrap)['route_config'], 'route_config')['virtual_hosts'], 'virtual_hosts');
  assert.equal(vhosts.length, 1);
  return asArray(asObject(vhosts[0], 'vhost')['routes'], 'routes').map((r) => asObject(r, 'route'));
}

function perFilter(route: Obj, name: string): Obj | undefined {
  const all = route['typed_per_filter_config'];
  if (all === undefined) return undefined;
  const one = asObject(all, 'typed_per_filter_config')[name];
  return one === undefined ? undefined : asObject(one, name);
}

function clusters(bootstrap: Obj): Obj[] {
  return asArray(asObject(bootstrap['static_resources'], 'static_resources')['clusters'], 'clusters').map((c) =>
    asObject(c, 'cluster'),
  );
}

function cluster(bootstrap: Obj, name: string): Obj {
  const found = clusters(bootstrap).find((c) => c['name'] === name);
  assert.ok(found !== undefined, `no cluster ${name}`);
  return found;
}

function endpointsOf(c: Obj): { address: string; port: number }[] {
  const la = asObject(c['load_assignment'], 'load_assignment');
  return asArray(la['endpoints'], 'endpoints').flatMap((e) =>
    asArray(asObject(e, 'endpoints')['lb_endpoints'], 'lb_endpoints').map((lb) => {
      const sa = asObject(
        asObject(asObject(asObject(lb, 'lb')['endpoint'], 'endpoint')['address'], 'address')['socket_address'],
        'socket_address',
      );
      return { address: String(sa['address']), port: Number(sa['port_value']) };
    }),
  );
}

for (const file of ['envoy/envoy.yaml', 'envoy/envoy.local.yaml']) {
  describe(`${file} keeps the TrustPlane contract`, () => {
    const bootstrap = load(file);

    it('runs header strip, wasm body hash, ext_authz and the router in that order', () => {
      assert.deepEqual(
        httpFilters(bootstrap).map((f) => f['name']),
        ['envoy.filters.http.header_mutation', WASM.filterName, 'envoy.filters.http.ext_authz', 'envoy.filters.http.router'],
      );
    });

    it('strips the body hash and every identity header a client might send', () => {
      const mutations = asObject(filterConfig(bootstrap, 'envoy.filters.http.header_mutation')['mutations'], 'mutations');
      const removed = asArray(mutations['request_mutations'], 'request_mutations').map((m) => asObject(m, 'm')['remove']);
      assert.deepEqual(removed, [HEADERS.bodySha256, ...IDENTITY_HEADERS]);
    });

    it('configures the wasm filter as the filter expects, with allow_on_headers_stop_iteration', () => {
      const plugin = asObject(filterConfig(bootstrap, WASM.filterName)['config'], 'config');
      assert.equal(plugin['root_id'], WASM.rootId);
      assert.equal(plugin['allow_on_headers_stop_iteration'], true);
      const vm = asObject(plugin['vm_config'], 'vm_config');
      assert.equal(vm['runtime'], WASM.runtime);
      const local = asObject(asObject(vm['code'], 'code')['local'], 'local');
      assert.equal(local['filename'], file === 'envoy/envoy.yaml' ? WASM.containerPath : WASM.buildPath);
      const configuration = asObject(plugin['configuration'], 'configuration');
      assert.equal(configuration['@type'], 'type.googleapis.com/google.protobuf.StringValue');
      assert.deepEqual(JSON.parse(String(configuration['value'])), WASM_PLUGIN_CONFIG);
    });

    it('calls the authz cluster over gRPC v3 and fails closed with 503', () => {
      const extAuthz = filterConfig(bootstrap, 'envoy.filters.http.ext_authz');
      assert.equal(extAuthz['transport_api_version'], 'V3');
      assert.equal(extAuthz['failure_mode_allow'], false);
      assert.deepEqual(extAuthz['status_on_error'], { code: 'ServiceUnavailable' });
      const grpc = asObject(extAuthz['grpc_service'], 'grpc_service');
      assert.deepEqual(grpc['envoy_grpc'], { cluster_name: 'trustplane_authz' });
      assert.match(String(grpc['timeout']), /^0\.\d+s$/);
      assert.equal(extAuthz['with_request_body'], undefined, 'body buffering is per route only');
    });

    it('reaches the authz server over HTTP/2 on its gRPC port, with gRPC health checks', () => {
      const authz = cluster(bootstrap, 'trustplane_authz');
      const options = asObject(
        asObject(authz['typed_extension_protocol_options'], 'options')['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'],
        'http options',
      );
      assert.deepEqual(asObject(options['explicit_http_config'], 'explicit')['http2_protocol_options'], {});
      const endpoints = endpointsOf(authz);
      assert.ok(endpoints.length >= 1);
      for (const e of endpoints) assert.equal(e.port, AUTHZ.grpcPort);
      const checks = asArray(authz['health_checks'], 'health_checks');
      assert.ok(checks.some((c) => asObject(c, 'hc')['grpc_health_check'] !== undefined));
    });

    it('lets the stream buffer hold a maximal body, so the filter answers oversize bodies itself', () => {
      const limit = Number(listener(bootstrap)['per_connection_buffer_limit_bytes']);
      assert.ok(limit > MAX_BODY_BYTES, `${limit} must exceed ${MAX_BODY_BYTES}`);
      assert.ok(limit <= 2 * MAX_BODY_BYTES, 'headroom, not a second limit');
    });

    it('normalises paths before routing and rejects escaped slashes', () => {
      const h = hcm(bootstrap);
      assert.equal(h['normalize_path'], true);
      assert.equal(h['merge_slashes'], true);
      assert.equal(h['path_with_escaped_slashes_action'], 'REJECT_REQUEST');
      assert.equal(
        asObject(h['common_http_protocol_options'], 'common')['headers_with_underscores_action'],
        'REJECT_REQUEST',
      );
    });

    it('gives every checked route a route id, a mode and a body source that match its filters', () => {
      const seen: string[] = [];
      for (const route of routes(bootstrap)) {
        const authz = perFilter(route, 'envoy.filters.http.ext_authz');
        assert.ok(authz !== undefined, `route ${JSON.stringify(route['match'])} has no ext_authz setting`);
        assert.equal(authz['@type'], 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute');
        const wasm = perFilter(route, WASM.filterName);
        const wasmDisabled = wasm !== undefined && wasm['disabled'] === true;
        if (authz['disabled'] === true) {
          assert.ok(wasmDisabled, 'an unchecked route must not run the body hash (or its early 401)');
          continue;
        }
        const settings = asObject(authz['check_settings'], 'check_settings');
        const ext = asObject(settings['context_extensions'], 'context_extensions');
        assert.deepEqual(Object.keys(ext).sort(), Object.values(CONTEXT_KEYS).sort());
        assert.match(String(ext[CONTEXT_KEYS.route]), /^[a-z][a-z0-9-]*$/);
        assert.ok(['enforce', 'dry_run'].includes(String(ext[CONTEXT_KEYS.mode])));
        seen.push(String(ext[CONTEXT_KEYS.route]));
        if (ext[CONTEXT_KEYS.body] === 'filter') {
          assert.ok(!wasmDisabled, 'a filter-body route needs the wasm filter');
          assert.equal(settings['with_request_body'], undefined);
        } else {
          assert.equal(ext[CONTEXT_KEYS.body], 'buffered');
          assert.ok(wasmDisabled, 'a buffered-body route hashes nothing in wasm');
          assert.deepEqual(settings['with_request_body'], {
            max_request_bytes: MAX_BODY_BYTES,
            allow_partial_message: false,
            pack_as_bytes: true,
          });
        }
      }
      assert.deepEqual(seen, ['payments-create', 'payments-read', 'uploads-create']);
    });

    it('keeps credential headers away from the upstream on the public route', () => {
      const publicRoute = routes(bootstrap).find((r) => asObject(r['match'], 'match')['prefix'] === '/public/');
      assert.ok(publicRoute !== undefined);
      assert.equal(perFilter(publicRoute, 'envoy.filters.http.ext_authz')?.['disabled'], true);
      assert.deepEqual(publicRoute['request_headers_to_remove'], [HEADERS.passport, HEADERS.proof]);
    });

    it('answers every unlisted path itself instead of forwarding it', () => {
      const last = routes(bootstrap).at(-1);
      assert.ok(last !== undefined);
      assert.deepEqual(last['match'], { prefix: '/' });
      assert.equal(asObject(last['direct_response'], 'direct_response')['status'], 404);
    });
  });
}

describe('envoy/envoy.local.yaml', () => {
  it('differs from envoy/envoy.yaml only in addresses and the wasm path', () => {
    const strip = (b: Obj): string =>
      JSON.stringify(b, (key, value: unknown) => {
        if (key === 'address' || key === 'filename' || key === 'type' || key === 'endpoints') return '<local>';
        return value;
      });
    assert.equal(strip(load('envoy/envoy.local.yaml')), strip(load('envoy/envoy.yaml')));
  });

  it('points at the loopback authz server and echo upstream', () => {
    const local = load('envoy/envoy.local.yaml');
    assert.deepEqual(endpointsOf(cluster(local, 'trustplane_authz')), [{ address: '127.0.0.1', port: AUTHZ.grpcPort }]);
    assert.deepEqual(endpointsOf(cluster(local, 'echo_upstream')), [{ address: '127.0.0.1', port: 8080 }]);
  });
});
