import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import {
  EnvoyConfigValidator,
  NEWER_FIELDS,
  findRepoRoot,
} from '../support/envoy-config-validator.js';

const repo = findRepoRoot();
const envoyDir = join(repo, 'envoy');
const istioDir = join(envoyDir, 'istio');

const HCM = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const EXT_AUTHZ = `${HCM}.http_filters[2].typed_config`;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

function envoyYamlText(): string {
  return readFileSync(join(envoyDir, 'envoy.yaml'), 'utf8');
}

/** A broken copy of envoy/envoy.yaml: `from` must occur exactly once, so each test breaks one thing. */
function brokenCopy(from: string, to: string): unknown {
  const text = envoyYamlText();
  assert.equal(text.split(from).length, 2, `expected exactly one ${JSON.stringify(from)} in envoy/envoy.yaml`);
  return parse(text.replace(from, to));
}

function envoyFilters(): { file: string; doc: unknown }[] {
  const out: { file: string; doc: unknown }[] = [];
  for (const file of yamlFiles(istioDir)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const value = doc.toJS() as { kind?: unknown } | null;
      if (value?.kind === 'EnvoyFilter') out.push({ file, doc: value });
    }
  }
  return out;
}

describe('Envoy configuration validation against the official API definitions', function () {
  // Parsing ~400 .proto files takes a few hundred ms on first use.
  this.timeout(20000);
  const validator = EnvoyConfigValidator.shared();

  describe('configs shipped in the repository', () => {
    const bootstraps = yamlFiles(envoyDir);

    it('finds the Envoy bootstrap files it is meant to check', () => {
      // Every *.yaml directly under envoy/ is validated as a bootstrap below.
      const names = bootstraps.map((f) => f.slice(envoyDir.length + 1));
      assert.ok(names.includes('envoy.yaml') && names.includes('envoy.local.yaml'), names.join(', '));
    });

    for (const file of bootstraps) {
      it(`accepts ${file.slice(repo.length + 1)} with no errors and no deprecated fields`, () => {
        const result = validator.validateBootstrap(parse(readFileSync(file, 'utf8')));
        assert.deepEqual(result.errors, []);
        assert.deepEqual(result.warnings, []);
      });
    }

    it('accepts the Envoy config inside every Istio EnvoyFilter patch', () => {
      const filters = envoyFilters();
      assert.ok(filters.length >= 1, 'expected at least one EnvoyFilter under envoy/istio');
      for (const { file, doc } of filters) {
        const result = validator.validateEnvoyFilter(doc);
        assert.deepEqual(result.errors, [], file);
        assert.deepEqual(result.warnings, [], file);
      }
    });
  });

  describe('a broken copy of envoy/envoy.yaml', () => {
    it('fails on a misspelt field and names its path and message type', () => {
      const result = validator.validateBootstrap(brokenCopy('failure_mode_allow: false', 'failure_mode_alow: false'));
      assert.deepEqual(result.errors, [
        `${EXT_AUTHZ}.failure_mode_alow: unknown field in envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`,
      ]);
    });

    it('fails on a misspelt field deep inside a per-route typed_per_filter_config', () => {
      const result = validator.validateBootstrap(
        brokenCopy('trustplane_body: buffered\n                                with_request_body:', 'trustplane_body: buffered\n                                with_request_bodies:'),
      );
      assert.deepEqual(result.errors, [
        `${HCM}.route_config.virtual_hosts[0].routes[4].typed_per_filter_config["envoy.filters.http.ext_authz"].check_settings.with_request_bodies: unknown field in envoy.extensions.filters.http.ext_authz.v3.CheckSettings`,
      ]);
    });

    it('fails on an @type that does not resolve', () => {
      const result = validator.validateBootstrap(
        brokenCopy('envoy.extensions.filters.http.router.v3.Router', 'envoy.extensions.filters.http.router.v3.Routr'),
      );
      assert.deepEqual(result.errors, [
        `${HCM}.http_filters[3].typed_config.@type: type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr does not resolve to a known message type`,
      ]);
    });

    it('fails on an @type that resolves to a message the body does not fit', () => {
      const result = validator.validateBootstrap(
        brokenCopy(
          '"@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz\n',
          '"@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute\n',
        ),
      );
      const message = 'unknown field in envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
      assert.deepEqual(result.errors, [
        `${EXT_AUTHZ}.transport_api_version: ${message}`,
        `${EXT_AUTHZ}.grpc_service: ${message}`,
        `${EXT_AUTHZ}.failure_mode_allow: ${message}`,
        `${EXT_AUTHZ}.status_on_error: ${message}`,
        `${EXT_AUTHZ}.decoder_header_mutation_rules: ${message}`,
        `${EXT_AUTHZ}: oneof override requires one of: disabled, check_settings`,
      ]);
    });

    it('fails on an enum value that does not exist', () => {
      const result = validator.validateBootstrap(brokenCopy('codec_type: AUTO', 'codec_type: AUTOMATIC'));
      assert.deepEqual(result.errors, [
        `${HCM}.codec_type: "AUTOMATIC" is not a value of enum envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType (expected one of AUTO, HTTP1, HTTP2, HTTP3)`,
      ]);
    });

    it('fails on an enum given by number, since configs name enum values', () => {
      const result = validator.validateBootstrap(brokenCopy('transport_api_version: V3', 'transport_api_version: 2'));
      assert.deepEqual(result.errors, [
        `${EXT_AUTHZ}.transport_api_version: enum envoy.config.core.v3.ApiVersion must be given by name, got the number 2`,
      ]);
    });

    it('fails on a duration without its unit', () => {
      const result = validator.validateBootstrap(
        brokenCopy('trustplane_authz }\n                        timeout: 0.5s', 'trustplane_authz }\n                        timeout: 500ms'),
      );
      assert.deepEqual(result.errors, [
        `${EXT_AUTHZ}.grpc_service.timeout: the string "500ms" is not a google.protobuf.Duration (expected a string such as "0.25s")`,
      ]);
    });

    it('fails on a wrapper written as a message instead of a plain scalar', () => {
      const result = validator.validateBootstrap(
        brokenCopy('allow_on_headers_stop_iteration: true', 'allow_on_headers_stop_iteration: { value: true }'),
      );
      assert.deepEqual(result.errors, [
        `${HCM}.http_filters[1].typed_config.config.allow_on_headers_stop_iteration: expected true or false, got a mapping`,
      ]);
    });

    it('fails when two members of a oneof are set', () => {
      const result = validator.validateBootstrap(
        brokenCopy(
          '                        envoy_grpc: { cluster_name: trustplane_authz }\n',
          '                        envoy_grpc: { cluster_name: trustplane_authz }\n' +
            '                        google_grpc: { target_uri: "authz:9191", stat_prefix: authz }\n',
        ),
      );
      assert.deepEqual(result.errors, [
        `${EXT_AUTHZ}.grpc_service: envoy_grpc and google_grpc are both set, but they belong to oneof target_specifier`,
      ]);
    });

    it('fails on an integer out of range for its field', () => {
      const result = validator.validateBootstrap(brokenCopy('port_value: 10000', 'port_value: 70000'));
      assert.deepEqual(result.errors, [
        'static_resources.listeners[0].address.socket_address.port_value: must be at most 65535',
      ]);
    });

    it('fails on an empty value left where a field was meant to be', () => {
      const result = validator.validateBootstrap(brokenCopy('stat_prefix: ingress_http', 'stat_prefix:'));
      assert.deepEqual(result.errors, [`${HCM}.stat_prefix: is null; omit the field instead`]);
    });
  });

  describe('JSON names, as Envoy accepts them', () => {
    it('accepts the lowerCamel JSON name of a field', () => {
      const result = validator.validateBootstrap(brokenCopy('failure_mode_allow: false', 'failureModeAllow: false'));
      assert.deepEqual(result.errors, []);
    });

    it('fails when a field is given under both of its names', () => {
      const result = validator.validateBootstrap(
        brokenCopy('failure_mode_allow: false', 'failure_mode_allow: false\n                      failureModeAllow: false'),
      );
      assert.deepEqual(result.errors, [
        `${EXT_AUTHZ}.failureModeAllow: field failure_mode_allow is given twice (as failure_mode_allow and failureModeAllow)`,
      ]);
    });
  });

  describe('Istio EnvoyFilter patches', () => {
    it('names the patch path of a misspelt field inside an inserted filter', () => {
      const [first] = envoyFilters();
      assert.ok(first !== undefined);
      const text = JSON.stringify(first.doc).replace('"allow_on_headers_stop_iteration"', '"allow_on_headers_stop_iteraton"');
      const doc = JSON.parse(text) as { spec: { configPatches: { patch: { value: unknown } }[] } };
      const index = doc.spec.configPatches.findIndex((p) => JSON.stringify(p).includes('allow_on_headers_stop_iteraton'));
      const result = validator.validateEnvoyFilter(doc);
      assert.deepEqual(result.errors, [
        `spec.configPatches[${index}].patch.value.typed_config.config.allow_on_headers_stop_iteraton: unknown field in envoy.extensions.wasm.v3.PluginConfig`,
      ]);
    });

    it('refuses an applyTo it cannot map to an Envoy message', () => {
      const result = validator.validateEnvoyFilter({
        spec: { configPatches: [{ applyTo: 'HTTP_FILTERS', patch: { operation: 'ADD', value: {} } }] },
      });
      assert.deepEqual(result.errors, ['spec.configPatches[0].applyTo: cannot validate applyTo the string "HTTP_FILTERS"']);
    });
  });

  describe('the allow-list of fields newer than the vendored definitions', () => {
    it('is short and names the Envoy version that added each field', () => {
      assert.ok(NEWER_FIELDS.length <= 3, 'the allow-list is meant to stay short');
      for (const field of NEWER_FIELDS) {
        assert.match(field.addedIn, /^Envoy v1\.\d+\.\d+$/, `${field.message}.${field.name}`);
        assert.ok(field.reference.length > 0);
      }
    });

    it('holds only fields the vendored definitions really lack', () => {
      assert.deepEqual(validator.obsoleteNewerFields, []);
      const wasmProto = readFileSync(join(validator.depsDir, 'envoy-api/envoy/extensions/wasm/v3/wasm.proto'), 'utf8');
      assert.ok(!wasmProto.includes('allow_on_headers_stop_iteration'));
    });

    it('gives the allowed field its real type, BoolValue field 9', () => {
      const result = validator.validate('envoy.extensions.wasm.v3.PluginConfig', {
        allow_on_headers_stop_iteration: 'yes',
      });
      assert.deepEqual(result.errors, ['allow_on_headers_stop_iteration: expected true or false, got the string "yes"']);
    });
  });
});
