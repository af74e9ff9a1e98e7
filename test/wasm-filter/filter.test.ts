/**
 * The filter's contract besides the digest: the header is replaced (a client-sent copy never
 * survives), the body limit and the optional passport check answer with local replies, bad
 * configuration is refused with a reason, and the module imports only what Envoy provides.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ENVOY_PROVIDED_IMPORTS, PluginConfigurationRejected } from '../../dev/gateway/proxy-wasm-host.js';
import type { LocalReply, ProxyWasmHost, WasmModule } from '../../dev/gateway/proxy-wasm-host.js';
import {
  DEBUG_WASM,
  expectedDigest,
  HASH_HEADER,
  loadFilter,
  RELEASE_WASM,
  runRequest,
  startRequest,
} from '../support/wasm-filter.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const BODY = text('{"amount":100}');

function assertReply(reply: LocalReply | null, status: number, reason: string): void {
  assert.ok(reply !== null, 'expected a local reply');
  assert.equal(reply.source, 'plugin');
  assert.equal(reply.status, status);
  assert.equal(reply.details, `trustplane_${reason}`);
  assert.equal(Buffer.from(reply.body).toString(), `{"reason":"${reason}"}`);
  assert.deepEqual(reply.headers, [['content-type', 'application/json'], ['x-trustplane-reason', reason]]);
  assert.equal(reply.grpcStatus, -1);
}

describe('wasm filter: behaviour', function () {
  this.timeout(60_000);

  describe('a client-sent hash header never survives', () => {
    let host: ProxyWasmHost;
    before(async () => {
      host = await loadFilter();
    });

    const forged: [string, [string, string][]][] = [
      ['once', [[HASH_HEADER, 'forged']]],
      ['twice', [[HASH_HEADER, 'forged-1'], [HASH_HEADER, 'forged-2']]],
      ['in another case', [['X-TrustPlane-Body-SHA256', 'forged']]],
      ['twice in mixed case', [['X-TRUSTPLANE-BODY-SHA256', 'a'], ['x-trustplane-body-sha256', 'b']]],
    ];
    for (const [label, extra] of forged) {
      it(`replaces a forged header sent ${label}, with a body`, () => {
        const stream = runRequest(host, {
          headers: [[':method', 'POST'], [':path', '/'], ...extra, ['x-other', 'kept']],
          chunks: [BODY],
        });
        assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(BODY)]);
        assert.deepEqual(stream.headerValues('x-other'), ['kept']);
      });

      it(`replaces a forged header sent ${label}, without a body`, () => {
        const stream = runRequest(host, { headers: [[':method', 'GET'], [':path', '/'], ...extra], chunks: [] });
        assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(new Uint8Array(0))]);
      });
    }

    it('holds the headers until the body is complete, then continues', () => {
      const stream = startRequest(host, { chunks: [BODY] });
      stream.sendBody(BODY.subarray(0, 5), false);
      assert.equal(stream.continued, false);
      assert.deepEqual(stream.headerValues(HASH_HEADER), []);
      stream.sendBody(BODY.subarray(5), true);
      assert.equal(stream.continued, true);
      assert.equal(stream.ended, true);
      assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(BODY)]);
    });

    it('sets the configured header name, lower-cased', async () => {
      const custom = await loadFilter({ header: 'X-Body-Digest' });
      const stream = runRequest(custom, { headers: [[':path', '/'], ['x-body-digest', 'forged']], chunks: [BODY] });
      assert.deepEqual(stream.headerValues('x-body-digest'), [expectedDigest(BODY)]);
      assert.deepEqual(stream.headerValues(HASH_HEADER), []);
    });
  });

  describe('body limit', () => {
    it('answers 413 body_too_large once the body passes max_body_bytes', async () => {
      const host = await loadFilter({ max_body_bytes: 10 }, { decoderBufferLimitBytes: 1 << 20 });
      const stream = runRequest(host, { chunks: [text('123456'), text('78901'), text('2')] });
      assertReply(stream.localReply, 413, 'body_too_large');
      assert.equal(stream.continued, false);
      assert.equal(stream.bodyCallbacks, 2); // no VM call after the reply
      assert.deepEqual(stream.headerValues(HASH_HEADER), []);
    });

    it('accepts a body of exactly max_body_bytes', async () => {
      const host = await loadFilter({ max_body_bytes: 10 });
      const body = text('1234567890');
      const stream = runRequest(host, { chunks: [body.subarray(0, 3), body.subarray(3)] });
      assert.equal(stream.localReply, null);
      assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(body)]);
    });

    it('refuses a declared Content-Length over the limit before any body arrives', async () => {
      const host = await loadFilter({ max_body_bytes: 10 });
      const stream = host.newStream([[':method', 'POST'], [':path', '/'], ['content-length', '11']]);
      stream.sendHeaders(false);
      assertReply(stream.localReply, 413, 'body_too_large');
      stream.sendBody(text('12345678901'), true);
      assert.equal(stream.bodyCallbacks, 0);
    });

    it('defaults to 1 MiB', async () => {
      const host = await loadFilter(null, { decoderBufferLimitBytes: 4 << 20 });
      const atLimit = new Uint8Array(1 << 20);
      assert.equal(runRequest(host, { chunks: [atLimit] }).localReply, null);
      const over = runRequest(host, { chunks: [atLimit, new Uint8Array(1)] });
      assertReply(over.localReply, 413, 'body_too_large');
    });
  });

  describe('passport check', () => {
    it('answers 401 passport_missing when the configured header is absent', async () => {
      const host = await loadFilter({ require_passport_header: 'x-trustplane-passport' });
      const stream = runRequest(host, { chunks: [BODY] });
      assertReply(stream.localReply, 401, 'passport_missing');
      assert.equal(stream.bodyCallbacks, 0);
      assert.equal(stream.continued, false);
    });

    it('answers 401 for a body-less request too', async () => {
      const host = await loadFilter({ require_passport_header: 'x-trustplane-passport' });
      const stream = runRequest(host, { chunks: [] });
      assertReply(stream.localReply, 401, 'passport_missing');
    });

    it('lets a request with the header through (any case) and hashes it', async () => {
      const host = await loadFilter({ require_passport_header: 'X-TrustPlane-Passport' });
      const stream = runRequest(host, { headers: [[':path', '/'], ['X-TRUSTPLANE-PASSPORT', 'eyJ...']], chunks: [BODY] });
      assert.equal(stream.localReply, null);
      assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(BODY)]);
    });

    it('answers 401 for an empty passport header, as the authz server would', async () => {
      const host = await loadFilter({ require_passport_header: 'x-trustplane-passport' });
      const stream = runRequest(host, { headers: [[':path', '/'], ['x-trustplane-passport', '']], chunks: [] });
      assertReply(stream.localReply, 401, 'passport_missing');
    });

    it('does not check by default', async () => {
      const host = await loadFilter({});
      assert.equal(runRequest(host, { chunks: [] }).localReply, null);
    });
  });

  describe('configuration', () => {
    async function rejection(config: string | object): Promise<string[]> {
      try {
        await loadFilter(config);
      } catch (error) {
        assert.ok(error instanceof PluginConfigurationRejected, String(error));
        for (const entry of error.logs) assert.equal(entry.levelName, 'error');
        return error.logs.map((l) => l.message.replace('trustplane filter: invalid plugin configuration: ', ''));
      }
      assert.fail('the configuration was accepted');
    }

    const bad: [string, string | object, string[]][] = [
      ['an unknown key', { header: 'x-h', extra: 1 }, ['unknown key "extra"']],
      ['a header that is not a string', { header: 5 }, ['"header" must be a non-empty HTTP header name (token characters only)']],
      ['an empty header', { header: '' }, ['"header" must be a non-empty HTTP header name (token characters only)']],
      ['a pseudo-header', { header: ':path' }, ['"header" must be a non-empty HTTP header name (token characters only)']],
      ['a negative max_body_bytes', { max_body_bytes: -1 }, ['"max_body_bytes" must be an integer from 0 to 9007199254740991']],
      ['a fractional max_body_bytes', { max_body_bytes: 1.5 }, ['"max_body_bytes" must be an integer from 0 to 9007199254740991']],
      ['a string max_body_bytes', { max_body_bytes: '1024' }, ['"max_body_bytes" must be an integer from 0 to 9007199254740991']],
      ['a boolean passport header', { require_passport_header: true }, ['"require_passport_header" must be null or a non-empty HTTP header name (token characters only)']],
      ['an unknown log level', { log_level: 'verbose' }, ['"log_level" must be one of "trace", "debug", "info", "warn", "error", "critical"']],
      ['the same header twice', { header: 'x-a', require_passport_header: 'X-A' }, ['"header" and "require_passport_header" must name different headers']],
      ['a duplicated key', '{"header":"x-a","header":"x-b"}', ['"header" appears more than once']],
      ['a JSON array', '[]', ['configuration must be a JSON object, got an array']],
      ['invalid JSON', '{"header": ', ['configuration is not valid JSON: unexpected end of JSON at byte 11']],
      ['trailing data', '{} x', ['configuration is not valid JSON: unexpected data after the JSON value at byte 3']],
      ['several problems', { header: 1, log_level: 2, what: null }, [
        '"header" must be a non-empty HTTP header name (token characters only)',
        '"log_level" must be one of "trace", "debug", "info", "warn", "error", "critical"',
        'unknown key "what"',
      ]],
    ];
    for (const [label, config, problems] of bad) {
      it(`refuses ${label}, logging every reason`, async () => {
        assert.deepEqual(await rejection(config), problems);
      });
    }

    it('accepts an empty configuration with the defaults', async () => {
      const host = await loadFilter(null);
      assert.deepEqual(
        host.logs.map((l) => l.message),
        ['trustplane filter: configured header=x-trustplane-body-sha256 max_body_bytes=1048576 require_passport_header=null'],
      );
    });

    it('accepts every key with JSON escapes and whitespace', async () => {
      const host = await loadFilter(
        ' {"header":"x-\\u0062ody", "max_body_bytes": 2e3, "require_passport_header": null, "log_level": "warn"}\n',
      );
      assert.deepEqual(host.logs, []); // warn suppresses the info line
      const stream = runRequest(host, { chunks: [new Uint8Array(2000)] });
      assert.deepEqual(stream.headerValues('x-body'), [expectedDigest(new Uint8Array(2000))]);
      assertReply(runRequest(host, { chunks: [new Uint8Array(2001)] }).localReply, 413, 'body_too_large');
    });
  });

  describe('module', () => {
    for (const [label, path] of [['release', RELEASE_WASM], ['debug', DEBUG_WASM]] as const) {
      it(`${label} build imports only functions Envoy provides, and never abort, seed, trace or proc_exit`, async () => {
        const wasmApi = (globalThis as unknown as {
          WebAssembly: { compile(b: Uint8Array): Promise<WasmModule>; Module: { imports(m: WasmModule): { module: string; name: string; kind: string }[]; exports(m: WasmModule): { name: string }[] } };
        }).WebAssembly;
        const module = await wasmApi.compile(await readFile(path));
        const imports = wasmApi.Module.imports(module);
        for (const i of imports) {
          assert.equal(i.kind, 'function', `${i.module}.${i.name}`);
          assert.ok(ENVOY_PROVIDED_IMPORTS.has(`${i.module}.${i.name}`), `${i.module}.${i.name} is not provided by Envoy`);
          assert.ok(!/^(abort|seed|trace|proc_exit)$/.test(i.name), `${i.module}.${i.name}`);
        }
        assert.deepEqual(imports.map((i) => i.name).sort(), [
          'proxy_get_buffer_bytes',
          'proxy_get_header_map_value',
          'proxy_log',
          'proxy_remove_header_map_value',
          'proxy_replace_header_map_value',
          'proxy_send_local_response',
        ]);
        const exports = new Set(wasmApi.Module.exports(module).map((e) => e.name));
        for (const name of ['proxy_abi_version_0_2_1', 'malloc', 'memory', '_initialize', 'proxy_on_context_create', 'proxy_on_configure', 'proxy_on_request_headers', 'proxy_on_request_body', 'proxy_on_request_trailers', 'proxy_on_delete']) {
          assert.ok(exports.has(name), `missing export ${name}`);
        }
      });
    }
  });
});
