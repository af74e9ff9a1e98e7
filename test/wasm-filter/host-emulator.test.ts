/**
 * The host emulator follows the ABI and Envoy's buffering rules (docs/envoy-integration.md F5.2–F5.4).
 * These tests drive a probe filter (fixtures/probe-filter.as) that logs what it is handed.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  deserializeHeaderMap,
  ENVOY_PROVIDED_IMPORTS,
  ProxyWasmHost,
  ProxyWasmLoadError,
  serializeHeaderMap,
} from '../../dev/gateway/proxy-wasm-host.js';
import type { ProxyWasmHostOptions, ProxyWasmStream, WasmModule } from '../../dev/gateway/proxy-wasm-host.js';
import { probeModule } from '../support/wasm-filter.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('proxy-wasm host emulator', function () {
  this.timeout(60_000);
  let probe: WasmModule;

  before(async () => {
    probe = await probeModule();
  });

  async function probeHost(config: string, options: ProxyWasmHostOptions = {}): Promise<ProxyWasmHost> {
    return ProxyWasmHost.load(probe, config, options);
  }

  function streamLogs(host: ProxyWasmHost, stream: ProxyWasmStream): string[] {
    return host.logs.filter((l) => l.contextId === stream.contextId).map((l) => l.message);
  }

  describe('header-map serialisation (F5.3)', () => {
    it('writes the count, the size table, then NUL-terminated keys and values, little-endian', () => {
      const bytes = serializeHeaderMap([['a', '1'], ['bb', '22']]);
      assert.deepEqual(
        [...bytes],
        [2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0x61, 0, 0x31, 0, 0x62, 0x62, 0, 0x32, 0x32, 0],
      );
    });

    it('reads an empty map from 0 bytes or a single NUL', () => {
      assert.deepEqual(deserializeHeaderMap(new Uint8Array(0)), []);
      assert.deepEqual(deserializeHeaderMap(new Uint8Array([0])), []);
    });

    it('refuses a truncated map', () => {
      const bytes = serializeHeaderMap([['key', 'value']]);
      assert.throws(() => deserializeHeaderMap(bytes.subarray(0, bytes.length - 1)), /truncated/);
    });

    it('round-trips any header list', () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' })), { maxLength: 20 }), (pairs) => {
          assert.deepEqual(deserializeHeaderMap(serializeHeaderMap(pairs)), pairs);
        }),
        { numRuns: 200 },
      );
    });

    it('hands the VM the serialised map and takes it back unchanged through get/set_header_map_pairs', async () => {
      const host = await probeHost('headers=0 roundtrip');
      const stream = host.newStream([[':path', '/x'], ['A', 'é'], ['a', '']]);
      stream.sendHeaders(true);
      assert.deepEqual(streamLogs(host, stream).slice(1, 3), ['headers n=3 eos=1', 'pairs status=0 size=45 set=0']);
      assert.deepEqual(stream.requestHeaders, [[':path', '/x'], ['a', 'é'], ['a', '']]);
    });
  });

  describe('lifecycle (F5.1)', () => {
    it('creates the root context, then one context per stream, and closes with on_done and on_delete', async () => {
      const host = await probeHost('');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(true);
      stream.close();
      assert.deepEqual(
        host.logs.map((l) => `${l.contextId}:${l.message}`),
        [
          '1:create 1 parent=0',
          `${stream.contextId}:create ${stream.contextId} parent=1`,
          `${stream.contextId}:headers n=1 eos=1`,
          `${stream.contextId}:log x-probe status=1 value=`,
          `${stream.contextId}:done ${stream.contextId}`,
          `${stream.contextId}:delete ${stream.contextId}`,
        ],
      );
      assert.equal(host.openStreams, 0);
    });

    it('refuses a module that imports what Envoy does not provide (env.abort)', async () => {
      // (module (import "env" "abort" (func (param i32 i32 i32 i32))))
      const bytes = new Uint8Array([
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00,
        0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x05, 0x61, 0x62, 0x6f, 0x72, 0x74, 0x00, 0x00,
      ]);
      await assert.rejects(ProxyWasmHost.load(bytes), (error: unknown) => {
        assert.ok(error instanceof ProxyWasmLoadError);
        assert.equal(error.message, 'module imports what Envoy does not provide: env.abort');
        return true;
      });
      assert.equal(ENVOY_PROVIDED_IMPORTS.has('env.abort'), false);
      assert.equal(ENVOY_PROVIDED_IMPORTS.has('env.proxy_log'), true);
      assert.equal(ENVOY_PROVIDED_IMPORTS.has('wasi_snapshot_preview1.fd_write'), true);
    });
  });

  describe('body delivery (F5.4)', () => {
    it('makes the buffer cumulative while the filter pauses: body_size counts every byte so far', async () => {
      const host = await probeHost('headers=1 body=1');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      stream.sendBody(text('cd'), false);
      stream.sendBody(new Uint8Array(0), true);
      assert.deepEqual(streamLogs(host, stream).slice(2), [
        'body size=2 eos=0 status=0 data=ab',
        'body size=4 eos=0 status=0 data=abcd',
        'body size=4 eos=1 status=0 data=abcd',
      ]);
      assert.equal(stream.continued, false);
      assert.equal(stream.requestState, 'buffering');
    });

    it('delivers chunk by chunk once the filter continued', async () => {
      const host = await probeHost('headers=1 body=0');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      stream.sendBody(text('cd'), true);
      assert.deepEqual(streamLogs(host, stream).slice(2), [
        'body size=2 eos=0 status=0 data=ab',
        'body size=2 eos=1 status=0 data=cd',
      ]);
      assert.equal(Buffer.from(stream.forwardedBody()).toString(), 'abcd');
      assert.equal(stream.ended, true);
    });

    it('passes the whole buffered body on when the filter continues after buffering', async () => {
      const host = await probeHost('headers=1 body=1');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      assert.equal(stream.forwardedBody().length, 0);
      stream.resume();
      assert.equal(Buffer.from(stream.forwardedBody()).toString(), 'ab');
    });

    it('never calls the body callback after a Pause from headers without allow_on_headers_stop_iteration', async () => {
      const host = await probeHost('headers=1 body=1', { allowOnHeadersStopIteration: false });
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), true);
      assert.equal(stream.bodyCallbacks, 0);
      assert.equal(stream.requestState, 'stopped-all');
      assert.equal(stream.continued, false);
      assert.equal(stream.localReply, null);
    });

    it('answers 413 itself when the buffered body passes the decoder buffer limit, without calling the VM', async () => {
      const host = await probeHost('headers=1 body=1', { decoderBufferLimitBytes: 3 });
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      stream.sendBody(text('cd'), true);
      assert.equal(stream.bodyCallbacks, 1);
      assert.equal(stream.localReply?.status, 413);
      assert.equal(stream.localReply?.source, 'envoy');
    });

    it('shows the trailers to the trailers callback', async () => {
      const host = await probeHost('headers=1 body=1 trailers=0');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      stream.sendTrailers([['X-T', 'tv']]);
      assert.equal(streamLogs(host, stream)[3], 'trailers n=1 x-t status=0 value=tv');
      assert.equal(stream.ended, true);
      assert.equal(Buffer.from(stream.forwardedBody()).toString(), 'ab');
    });
  });

  describe('request-header writes', () => {
    it('refuses writes with BAD_ARGUMENT after the headers were continued', async () => {
      const host = await probeHost('headers=0 body=0 write');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), true);
      assert.deepEqual(streamLogs(host, stream).slice(2, 5), [
        'write headers status=0',
        'body size=2 eos=1 status=0 data=ab',
        'write body status=2',
      ]);
      assert.deepEqual(stream.headerValues('x-probe'), ['headers']);
    });

    it('accepts writes from the body callback while the headers are held', async () => {
      const host = await probeHost('headers=1 body=1 write');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      assert.equal(streamLogs(host, stream)[4], 'write body status=0');
      assert.deepEqual(stream.headerValues('x-probe'), ['body']);
    });

    it('lets on_log read the request headers but not write them', async () => {
      const host = await probeHost('headers=0 write');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(true);
      stream.close();
      const logs = streamLogs(host, stream);
      assert.ok(logs.includes('log x-probe status=0 value=headers'));
      assert.ok(logs.includes('write log status=2'));
    });

    it('replace overwrites only the first copy by default (setCopy without the runtime flag)', async () => {
      const host = await probeHost('headers=1 write');
      const stream = host.newStream([[':path', '/'], ['x-probe', 'a'], ['x-probe', 'b']]);
      stream.sendHeaders(false);
      assert.deepEqual(stream.headerValues('x-probe'), ['headers', 'b']);
    });

    it('replace removes every copy when setCopyReplacesAll is set', async () => {
      const host = await probeHost('headers=1 write', { setCopyReplacesAll: true });
      const stream = host.newStream([[':path', '/'], ['x-probe', 'a'], ['x-probe', 'b']]);
      stream.sendHeaders(false);
      assert.deepEqual(stream.headerValues('x-probe'), ['headers']);
    });
  });

  describe('local replies', () => {
    it('records the reply and stops calling the VM for the stream', async () => {
      const host = await probeHost('headers=1 body=1 reply');
      const stream = host.newStream([[':path', '/']]);
      stream.sendHeaders(false);
      stream.sendBody(text('ab'), false);
      stream.sendBody(text('cd'), true);
      assert.equal(stream.bodyCallbacks, 1);
      const reply = stream.localReply;
      assert.ok(reply !== null);
      assert.equal(reply.status, 418);
      assert.equal(reply.details, 'probe');
      assert.equal(Buffer.from(reply.body).toString(), 'teapot');
      assert.deepEqual(reply.headers, [['x-why', 'probe']]);
      assert.equal(reply.source, 'plugin');
      assert.equal(stream.continued, false);
    });
  });
});
