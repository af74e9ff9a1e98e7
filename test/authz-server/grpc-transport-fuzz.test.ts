/**
 * The gRPC transport (authz-server/src/envoy/grpc-transport.ts, grpc-call.ts) against a hostile
 * HTTP/2 client, by property: the real in-process server, a raw node:http2 client, and fast-check
 * choosing the header variants, where the bytes are split into DATA frames, where the client resets,
 * and what garbage it sends. Each property holds for every run:
 * - the server never throws out of an event handler (in process, mocha fails the test on one) and
 *   still answers a good check with the exact allow afterwards;
 * - a complete call gets exactly the answer a reference reading of its bytes predicts
 *   (PROTOCOL-HTTP2.md: HTTP 405/415, grpc-status 12/13/8, or the decision) whatever the splits;
 * - the overload gate's in-flight count is back to 0.
 * Run counts are fixed (numRuns) so the file's time is bounded; nothing asserts a duration.
 */
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import fc from 'fast-check';
import { MAX_HELD_REQUEST_BYTES, MAX_RECEIVE_MESSAGE_BYTES, heldRequestByteCount } from '../../authz-server/src/envoy/grpc-call.js';
import { assertAllow, reasonOf } from '../support/check-assertions.js';
import { waitFor } from '../support/clock.js';
import { CHECK_PATH, decodeOfficialCheckResponse } from '../support/envoy-api.js';
import { GrpcServer, MAX_CONCURRENT_STREAMS, type GrpcCall } from '../../authz-server/src/envoy/grpc-transport.js';
import { ServingStatus, readHealthRequest, writeHealthResponse } from '../../authz-server/src/envoy/services.js';
import { SERVICE_NAMES } from '../../authz-server/src/health.js';
import { startInProcess } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust } from '../support/trust-setup.js';
import { collectAnswer, grpcFrame, useRawServer, type RawAnswer } from '../support/grpc-raw.js';
import { splitAt } from '../support/bytes.js';

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

const framed = grpcFrame;
type Answer = RawAnswer;

/** What the server must answer: an HTTP status, a gRPC error status, or a reply message. */
type Expected = { http: number } | { grpc: number } | { message: Buffer } | { allow: string } | { reason: string };

/** Sends `pieces` one DATA frame each (a turn of the event loop between them), then END_STREAM unless `end` is false. */
async function call(session: ClientHttp2Session, headers: OutgoingHttpHeaders, pieces: readonly Buffer[], opts: { end?: boolean; resetAfter?: number; resetAfterEnd?: boolean } = {}): Promise<Answer> {
  const req = session.request(headers);
  const answer = collectAnswer(req);
  for (let i = 0; i < pieces.length && !req.closed; i++) {
    if (opts.resetAfter === i) break;
    await new Promise<void>((resolve) => req.write(pieces[i], () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (opts.resetAfter !== undefined) req.close(constants.NGHTTP2_CANCEL);
  else if (opts.end === false) {
    // A client that never half-closes: give the server a turn to answer what it can, then leave.
    await new Promise((resolve) => setImmediate(resolve));
    if (!req.closed) req.close(constants.NGHTTP2_CANCEL);
  } else if (!req.closed) {
    req.end();
    // Reset after half-close: between the request and the answer (a check may be in the store).
    if (opts.resetAfterEnd) setImmediate(() => req.close(constants.NGHTTP2_CANCEL));
  }
  return answer;
}

/** The protocol's reading of a request body, in arrival order (PROTOCOL-HTTP2.md, Length-Prefixed-Message). */
function expectedBody(body: Buffer): { grpc: number } | { request: Buffer } {
  let off = 0;
  let request: Buffer | undefined;
  while (off < body.length) {
    if (body.length - off < 5) return { grpc: 13 };
    const flag = body[off]!;
    const length = body.readUInt32BE(off + 1);
    if (flag === 1) return { grpc: 12 };
    if (flag !== 0) return { grpc: 13 };
    if (length > MAX_RECEIVE_MESSAGE_BYTES) return { grpc: 8 };
    if (request !== undefined) return { grpc: 12 };
    if (body.length - off - 5 < length) return { grpc: 13 };
    request = body.subarray(off + 5, off + 5 + length);
    off += 5 + length;
  }
  return request === undefined ? { grpc: 12 } : { request };
}

/** Splits `bytes` at the given cut points (any value and order, duplicates allowed: an empty DATA frame). */
const split = (bytes: Buffer, cuts: readonly number[]): Buffer[] => splitAt(bytes, cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b));

describe('gRPC transport against a hostile client (fast-check, real server, raw HTTP/2)', function () {
  this.timeout(180_000);
  const env = useRawServer('tp-transport-fuzz-');

  const grpcHeaders = (over: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', ...over });

  /** The exact allow on a fresh good check, and the gate back to 0: what every run ends with. */
  async function stillServes(): Promise<void> {
    const a = await call(env.session, grpcHeaders({ 'grpc-timeout': '10S' }), [framed(checkBytes(signCheck(env.trust)))]);
    assert.equal(a.trailers['grpc-status'], '0', JSON.stringify(a.headers));
    assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
    await waitFor('the overload gate at 0', () => env.srv.server.check.inFlight === 0, 10_000, 5);
  }

  async function assertAnswer(a: Answer, expected: Expected, what: string): Promise<void> {
    if ('http' in expected) {
      assert.equal(a.headers[':status'], expected.http, what);
      assert.equal(a.headers['grpc-status'], undefined, what);
      return;
    }
    assert.equal(a.headers[':status'], 200, what);
    const status = Number(a.trailers['grpc-status'] ?? a.headers['grpc-status']);
    if ('grpc' in expected) {
      assert.equal(status, expected.grpc, `${what}: ${decodeURIComponent(String(a.headers['grpc-message'] ?? a.trailers['grpc-message']))}`);
      assert.equal(a.data.length, 0, what);
      return;
    }
    assert.equal(status, 0, `${what}: ${decodeURIComponent(String(a.headers['grpc-message'] ?? a.trailers['grpc-message']))}`);
    assert.equal(a.data[0], 0, what);
    assert.equal(a.data.readUInt32BE(1), a.data.length - 5, what);
    const reply = a.data.subarray(5);
    if ('message' in expected) assert.deepEqual(reply, expected.message, what);
    else if ('allow' in expected) assertAllow(decodeOfficialCheckResponse(reply), expected.allow);
    else assert.equal(reasonOf(decodeOfficialCheckResponse(reply)), expected.reason, what);
  }

  it('a valid check split at every byte boundary into two DATA frames gets the exact allow', async () => {
    const n = framed(checkBytes(signCheck(env.trust))).length;
    for (let k = 0; k <= n; k++) {
      const body = framed(checkBytes(signCheck(env.trust)));
      const a = await call(env.session, grpcHeaders({ 'grpc-timeout': '10S' }), [body.subarray(0, k), body.subarray(k)]);
      assert.equal(a.trailers['grpc-status'], '0', `split at ${k}`);
      assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
    }
    await waitFor('the overload gate at 0', () => env.srv.server.check.inFlight === 0, 10_000, 5);
  });

  it('any header variant, body (valid, garbage, extra or short), split and reset: the exact answer or none, and the server still serves', async () => {
    const method = fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT');
    const contentType = fc.constantFrom<string | string[] | undefined>('application/grpc', 'application/grpc+proto', 'application/grpc;x=1', 'APPLICATION/GRPC', 'application/json', 'application/grpc-web', undefined);
    const path = fc.constantFrom(CHECK_PATH, CHECK_PATH, CHECK_PATH, HEALTH_CHECK, '/no.Such/Method', '/envoy.service.auth.v3.Authorization/Check/');
    const timeout = fc.constantFrom<string | string[] | undefined>(undefined, '10S', '99999999H', '1M', ['10S', '20S'], '1s', '123456789m', '', 'S');
    const body = fc.oneof(
      fc.constant({ kind: 'valid' as const }),
      fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('framed-garbage' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('valid+trailing' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
      fc.record({ kind: fc.constant('flag' as const), flag: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('announce' as const), length: fc.integer({ min: 0, max: 0xffffffff }), have: fc.integer({ min: 0, max: 64 }) }),
      fc.constant({ kind: 'empty-message' as const }),
      fc.constant({ kind: 'no-body' as const }),
    );
    const plan = fc.record({
      method,
      contentType,
      path,
      timeout,
      body,
      cuts: fc.array(fc.nat(), { maxLength: 12 }),
      end: fc.boolean(),
      reset: fc.option(fc.nat({ max: 14 }), { freq: 4 }),
      resetAfterEnd: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(plan, async (p) => {
        let bytes: Buffer;
        const signed = p.path === CHECK_PATH ? checkBytes(signCheck(env.trust)) : Buffer.alloc(0);
        switch (p.body.kind) {
          case 'valid': bytes = framed(signed); break;
          case 'garbage': bytes = Buffer.from(p.body.bytes); break;
          case 'framed-garbage': bytes = framed(Buffer.from(p.body.bytes)); break;
          case 'valid+trailing': bytes = Buffer.concat([framed(signed), Buffer.from(p.body.bytes)]); break;
          case 'flag': bytes = framed(signed, p.body.flag); break;
          case 'announce': bytes = framed(Buffer.alloc(Math.min(p.body.have, p.body.length)), 0, p.body.length); break;
          case 'empty-message': bytes = framed(Buffer.alloc(0)); break;
          case 'no-body': bytes = Buffer.alloc(0); break;
        }
        const headers = grpcHeaders({ ':method': p.method, ':path': p.path, 'grpc-timeout': p.timeout, 'content-type': p.contentType });
        for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
        const pieces = split(bytes, p.cuts);
        const reset = p.reset ?? undefined;
        const a = await call(env.session, headers, pieces, reset !== undefined ? { resetAfter: reset } : { end: p.end, resetAfterEnd: p.resetAfterEnd });
        const expected = await expect(p.method, p.contentType, p.path, p.timeout, bytes, p.body.kind === 'valid');
        const what = JSON.stringify({ ...p, signed: signed.length, bytes: bytes.length });
        const complete = reset === undefined && p.end;
        if (complete && !p.resetAfterEnd) await assertAnswer(a, expected, what);
        // Reset after half-close: the exact answer if it came first, else none.
        else if (complete) {
          if (a.headers[':status'] !== undefined && (a.trailers['grpc-status'] !== undefined || a.headers['grpc-status'] !== undefined || 'http' in expected)) await assertAnswer(a, expected, what);
        }
        else if (a.headers[':status'] !== undefined) {
          // Answered before the client stopped (reset, or never half-closed): what the HEADERS decide,
          // or an error from the bytes sent so far — never grpc-status 0, never a message.
          if ('http' in expected) await assertAnswer(a, expected, what);
          else {
            assert.equal(a.data.length, 0, what);
            assert.notEqual(String(a.trailers['grpc-status'] ?? a.headers['grpc-status']), '0', what);
          }
        }
        await stillServes();
      }),
      { numRuns: 250, seed: Number(process.env['TP_FUZZ_SEED'] ?? 20261207), endOnFailure: true },
    );
  });

  /** The answer a complete call must get, from the HEADERS and a reference reading of its bytes. */
  async function expect(method: string, contentType: string | string[] | undefined, path: string, timeout: string | string[] | undefined, bytes: Buffer, valid: boolean): Promise<Expected> {
    if (method !== 'POST') return { http: 405 };
    const ct = Array.isArray(contentType) ? contentType[0] : contentType;
    if (ct === undefined || !/^application\/grpc(\+proto)?(;.*)?$/i.test(ct)) return { http: 415 };
    if (path !== CHECK_PATH && path !== HEALTH_CHECK) return { grpc: 12 };
    if (timeout !== undefined && (Array.isArray(timeout) || !/^[0-9]{1,8}[HMSmun]$/.test(timeout))) return { grpc: 13 };
    const read = expectedBody(bytes);
    if ('grpc' in read) return read;
    if (path === HEALTH_CHECK) {
      // The health request is read by the server's own reader, as a Check's bytes are below: bytes
      // that parse (unknown fields skipped) name a service, known or not; others are INTERNAL.
      let service: string;
      try {
        service = readHealthRequest(read.request).service;
      } catch {
        return { grpc: 13 };
      }
      return SERVICE_NAMES.includes(service) ? { message: writeHealthResponse({ status: ServingStatus.SERVING }) } : { grpc: 5 };
    }
    // A freshly signed check is the allow; any other bytes get the reason the check service gives
    // them read in-process (garbage never reaches the replay store, so reading it twice is the same).
    if (valid) return { allow: 'payments-create' };
    return { reason: reasonOf(decodeOfficialCheckResponse(await env.srv.server.check.decide(read.request))) };
  }
});

describe('gRPC transport: HTTP/2 framing garbage on a raw socket', function () {
  this.timeout(120_000);
  it('random bytes after the connection preface never take the server down', async () => {
    const trust = makeTrust('tp-transport-garbage-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
    const srv = await startInProcess(trust);
    try {
      const [host, port] = [srv.grpcAddress.split(':')[0]!, Number(srv.grpcAddress.split(':')[1])];
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.boolean(), async (junk, preface) => {
          await new Promise<void>((resolve) => {
            const s = netConnect(port, host, () => {
              s.write(Buffer.concat([preface ? Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') : Buffer.alloc(0), Buffer.from(junk)]));
              setImmediate(() => s.end());
            });
            s.on('error', () => resolve());
            s.on('close', () => resolve());
            s.resume();
          });
        }),
        { numRuns: 100, seed: 20261207 },
      );
      const session = connect(`http://${srv.grpcAddress}`);
      session.on('error', () => {});
      try {
        const a = await call(session, { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' }, [framed(checkBytes(signCheck(trust)))]);
        assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
      } finally {
        session.close();
      }
    } finally {
      await srv.server.close();
      trust.dispose();
    }
  });
});

describe('gRPC transport: what a call holds after it ends', function () {
  this.timeout(60_000);
  const env = useRawServer('tp-transport-held-');

  it('a Watch ended by its grpc-timeout (status 4) or reset by the client leaves no watcher behind', async () => {
    const watch = { ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', 'content-type': 'application/grpc', te: 'trailers' };
    for (let i = 0; i < 20; i++) {
      const a = await call(env.session, { ...watch, 'grpc-timeout': '100m' }, [framed(Buffer.alloc(0))]);
      assert.equal(a.trailers['grpc-status'], String(4), 'DEADLINE_EXCEEDED after the first status');
      assert.deepEqual(a.data, framed(Buffer.from([0x08, 0x01])), 'SERVING was sent first');
    }
    assert.equal(env.srv.server.readiness.watching, 0, 'no watcher left by a deadline');
    const req = env.session.request(watch);
    req.on('error', () => {});
    req.end(framed(Buffer.alloc(0)));
    await new Promise((resolve) => req.once('data', resolve));
    assert.equal(env.srv.server.readiness.watching, 1);
    req.close(constants.NGHTTP2_CANCEL);
    await waitFor('the reset Watch dropped', () => env.srv.server.readiness.watching === 0, 5000, 5);
  });

  it('messages announced at 16 MiB and trickled on streams that never end are bounded all together: RESOURCE_EXHAUSTED (8) past the bound, released on reset', async () => {
    const perStream = MAX_RECEIVE_MESSAGE_BYTES;
    const streams = MAX_HELD_REQUEST_BYTES / perStream;
    const open: ReturnType<ClientHttp2Session['request']>[] = [];
    const statuses: Promise<string | undefined>[] = [];
    const h = { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' };
    const part = framed(Buffer.alloc(perStream / 2 + 1), 0, perStream);
    for (let i = 0; i <= streams; i++) {
      const req = env.session.request(h);
      req.on('error', () => {});
      let status: string | undefined;
      req.on('response', (r) => (status = r['grpc-status'] as string | undefined));
      req.resume();
      statuses.push(new Promise((resolve) => req.on('close', () => resolve(status))));
      open.push(req);
      req.write(part);
      if (i < streams) await waitFor(`stream ${i + 1} held`, () => heldRequestByteCount() === (i + 1) * perStream, 20_000, 5);
    }
    // The one past the bound is refused; the others are still held, never more than the bound.
    assert.equal(await statuses[streams], String(8));
    assert.equal(heldRequestByteCount(), MAX_HELD_REQUEST_BYTES);
    for (const req of open) req.close(constants.NGHTTP2_CANCEL);
    await waitFor('every held byte released by the resets', () => heldRequestByteCount() === 0, 10_000, 5);
    const a = await call(env.session, { ...h, 'grpc-timeout': '10S' }, [framed(checkBytes(signCheck(env.trust)))]);
    assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
  });

  it('a check sent one byte per DATA frame gets the exact allow and holds nothing after', async () => {
    const body = framed(checkBytes(signCheck(env.trust)));
    const pieces = [...body].map((b) => Buffer.from([b]));
    const a = await call(env.session, { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '30S' }, pieces);
    assert.equal(a.trailers['grpc-status'], '0', JSON.stringify(a));
    assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
    assert.equal(heldRequestByteCount(), 0);
    await waitFor('the overload gate at 0', () => env.srv.server.check.inFlight === 0, 10_000, 5);
  });

  it('a rapid-reset flood (HEADERS then RST_STREAM, thousands of times) ends that connection, not the server: node:http2 (the reset rate limit of nghttp2) sends GOAWAY, the gate is back at 0', async () => {
    const flood = connect(`http://${env.srv.grpcAddress}`);
    flood.on('error', () => {});
    const goaway = new Promise<number>((resolve) => flood.once('goaway', (code: number) => resolve(code)));
    const closed = new Promise((resolve) => flood.once('close', resolve));
    const body = framed(checkBytes(signCheck(env.trust)));
    for (let i = 0; i < 5000 && !flood.closed && !flood.destroyed; i++) {
      const r = flood.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
      r.on('error', () => {});
      r.end(body);
      r.close(constants.NGHTTP2_CANCEL);
      if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    // nghttp2 (since 1.57, node's is newer) ends a env.session past its reset rate limit with INTERNAL_ERROR.
    assert.equal(await goaway, constants.NGHTTP2_INTERNAL_ERROR);
    flood.destroy();
    await closed;
    await waitFor('the overload gate at 0', () => env.srv.server.check.inFlight === 0, 10_000, 5);
    const a = await call(env.session, { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '10S' }, [framed(checkBytes(signCheck(env.trust)))]);
    assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
  });

  it(`a connection may hold at most ${MAX_CONCURRENT_STREAMS} streams open: the server says so in its SETTINGS, and streams past it wait for one to close`, async () => {
    const own = connect(`http://${env.srv.grpcAddress}`);
    own.on('error', () => {});
    try {
      await new Promise((resolve) => own.once('remoteSettings', resolve));
      assert.equal(own.remoteSettings.maxConcurrentStreams, MAX_CONCURRENT_STREAMS);
      // Streams that send no message hold the limit; one more is queued by the client, not refused.
      const idle = Array.from({ length: MAX_CONCURRENT_STREAMS }, () => {
        const r = own.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
        r.on('error', () => {});
        return r;
      });
      let answered = false;
      const queued = call(own, { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '30S' }, [framed(checkBytes(signCheck(env.trust)))]).then((a) => {
        answered = true;
        return a;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(answered, false, 'the stream past the limit waits while all 1000 are open');
      idle[0]!.close(constants.NGHTTP2_CANCEL);
      const a = await queued;
      assertAllow(decodeOfficialCheckResponse(a.data.subarray(5)), 'payments-create');
      for (const r of idle) r.close(constants.NGHTTP2_CANCEL);
    } finally {
      own.close();
    }
  });
});

describe('gRPC transport: a request that never ends', function () {
  this.timeout(30_000);
  let server: GrpcServer;
  let session: ClientHttp2Session;
  const timers: NodeJS.Timeout[] = [];
  before(async () => {
    // A bare transport with a receive limit of 100 ms (the server's is RECEIVE_LIMIT_MS) and a handler slower than it.
    server = new GrpcServer(undefined, { receiveLimitMs: 100 });
    server.unary('/test.Slow/Echo', (c) => void timers.push(setTimeout(() => c.reply(c.request), 250)));
    session = connect(`http://127.0.0.1:${await server.listen('127.0.0.1:0')}`);
    session.on('error', () => {});
  });
  after(async () => {
    for (const t of timers) clearTimeout(t);
    session?.close();
    await server?.shutdown(1000);
  });

  /** A request whose client never half-closes and never resets: only the server can end it. */
  function neverEnding(headers: OutgoingHttpHeaders, body: Buffer): Promise<Answer> {
    const req = session.request({ ':method': 'POST', ':path': '/test.Slow/Echo', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const answer = collectAnswer(req);
    req.write(body);
    return answer;
  }

  it('without grpc-timeout, or with one longer than the receive limit, a call that never half-closes is ended DEADLINE_EXCEEDED (4) by the server', async () => {
    for (const headers of [{}, { 'grpc-timeout': '99999999H' }]) {
      for (const body of [Buffer.alloc(0), framed(Buffer.from('x')), framed(Buffer.from('x'), 0, 1000)]) {
        const a = await neverEnding(headers, body);
        assert.equal(a.headers['grpc-status'], '4', JSON.stringify({ headers, body: body.length }));
        assert.match(decodeURIComponent(String(a.headers['grpc-message'])), /request not finished within 100 ms/);
      }
    }
    assert.equal(heldRequestByteCount(), 0);
  });

  it('calls reset before they end leave no timer behind (a reset flood is not held for the receive limit or a long grpc-timeout)', async () => {
    const long = new GrpcServer(undefined, { receiveLimitMs: 600_000 });
    long.unary('/test.Slow/Echo', (c) => c.reply(c.request));
    const own = connect(`http://127.0.0.1:${await long.listen('127.0.0.1:0')}`);
    own.on('error', () => {});
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    try {
      await call(own, { ':method': 'POST', ':path': '/test.Slow/Echo', 'content-type': 'application/grpc', te: 'trailers' }, [framed(Buffer.from('x'))]);
      const before = timers();
      for (let i = 0; i < 200; i++) {
        // Without grpc-timeout and with one past the limit: each gets the receive timer, then is reset.
        const headers = { ':method': 'POST', ':path': '/test.Slow/Echo', 'content-type': 'application/grpc', te: 'trailers', ...(i % 2 ? { 'grpc-timeout': '2H' } : {}) };
        await call(own, headers, [Buffer.alloc(0)], { resetAfter: 1 });
      }
      await waitFor('the reset calls\' timers cleared', () => timers() <= before, 5000, 5);
    } finally {
      own.destroy();
      long.forceShutdown();
    }
  });

  it('the limit is on the request only: a handler slower than it still answers, and a grpc-timeout past it still ends the call', async () => {
    const h = { ':method': 'POST', ':path': '/test.Slow/Echo', 'content-type': 'application/grpc', te: 'trailers' };
    const slow = await call(session, h, [framed(Buffer.from('late'))]);
    assert.equal(slow.trailers['grpc-status'], '0');
    assert.deepEqual(slow.data, framed(Buffer.from('late')));
    const timed = await call(session, { ...h, 'grpc-timeout': '200m' }, [framed(Buffer.from('late'))]);
    assert.equal(timed.headers['grpc-status'], '4', 'the deadline, re-armed after the receive limit');
  });
});

describe('gRPC transport: answers on streams that are gone', function () {
  this.timeout(30_000);

  it('reply, write, end and fail after a client reset, after a second answer, and after forceShutdown neither throw nor send', async () => {
    const server = new GrpcServer();
    const held: GrpcCall[] = [];
    const thrown: unknown[] = [];
    const attempt = (f: () => void): void => {
      try {
        f();
      } catch (e) {
        thrown.push(e);
      }
    };
    server.unary('/t.T/Hold', (c) => void held.push(c));
    server.serverStream('/t.T/Watch', (c) => {
      c.write(Buffer.from('first'));
      held.push(c);
    });
    server.unary('/t.T/Twice', (c) => {
      c.reply(Buffer.from('one'));
      attempt(() => c.reply(Buffer.from('two')));
      attempt(() => c.fail(13, 'after the reply'));
      attempt(() => c.write(Buffer.from('three')));
      attempt(() => c.end());
    });
    const session = connect(`http://127.0.0.1:${await server.listen('127.0.0.1:0')}`);
    session.on('error', () => {});
    const h = (path: string): OutgoingHttpHeaders => ({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    try {
      const twice = await call(session, h('/t.T/Twice'), [framed(Buffer.alloc(0))]);
      assert.equal(twice.trailers['grpc-status'], '0');
      assert.deepEqual(twice.data, framed(Buffer.from('one')), 'only the first answer went out');
      // Reset by the client between half-close and the answer: unary, then a Watch after its first message.
      for (const path of ['/t.T/Hold', '/t.T/Watch']) {
        const req = session.request(h(path));
        req.on('error', () => {});
        req.end(framed(Buffer.alloc(0)));
        await waitFor(`${path} in its handler`, () => held.length > 0, 5000, 5);
        if (path === '/t.T/Watch') await new Promise((resolve) => req.once('data', resolve));
        req.close(constants.NGHTTP2_CANCEL);
        await new Promise((resolve) => req.once('close', resolve));
        const c = held.pop()!;
        await waitFor(`${path} seen as done`, () => c.done, 5000, 5);
        attempt(() => c.write(Buffer.from('after reset')));
        attempt(() => c.reply(Buffer.from('after reset')));
        attempt(() => c.end());
        attempt(() => c.fail(13, 'after reset'));
      }
      // Held in the handler when the server is stopped at once.
      const req = session.request(h('/t.T/Hold'));
      req.on('error', () => {});
      req.end(framed(Buffer.alloc(0)));
      await waitFor('the call in its handler', () => held.length > 0, 5000, 5);
      server.forceShutdown();
      const c = held.pop()!;
      assert.equal(c.done, true);
      attempt(() => c.reply(Buffer.from('after shutdown')));
      attempt(() => c.fail(13, 'after shutdown'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(thrown, []);
    } finally {
      session.destroy();
      server.forceShutdown();
    }
  });
});
