/**
 * The server's gRPC transport (authz-server/src/envoy/grpc-transport.ts, grpc-call.ts) at its edges,
 * over real sockets: the real server for what Envoy's calls meet, a bare GrpcServer where a handler
 * must be slow on purpose. grpc-js clients where grpc-js can send the case; a raw node:http2 client
 * where it cannot (a wrong content-type, a compressed flag without compression, a malformed
 * grpc-timeout, a length prefix with no message behind it). Every case asserts the exact status.
 */
import assert from 'node:assert/strict';
import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import type { ConsumeResult } from '../../core/src/replay/types.js';
import { GrpcServer, GrpcStatus, isGrpcContentType, parseGrpcTimeout } from '../../authz-server/src/envoy/grpc-transport.js';
import { percentEncode } from '../../authz-server/src/envoy/grpc-call.js';
import { assertAllow, reasonOf } from '../support/check-assertions.js';
import { waitFor } from '../support/clock.js';
import { CHECK_PATH, decodeOfficialCheckResponse } from '../support/envoy-api.js';
import { makeCheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust } from '../support/trust-setup.js';
import { collectAnswer, grpcFrame, rawStatus, useRawServer, type RawAnswer } from '../support/grpc-raw.js';

const framed = (message: Buffer, flag = 0): Buffer => grpcFrame(message, flag);

/** One request on a raw HTTP/2 connection: the response headers, trailers and body, as sent. */
function raw(session: ClientHttp2Session, path: string, body: Buffer, over: OutgoingHttpHeaders = {}, endStream = true): Promise<RawAnswer> {
  const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...over });
  const answer = collectAnswer(req);
  if (endStream) req.end(body);
  else req.write(body);
  return answer;
}

function unary(client: grpc.Client, path: string, message: Buffer, deadlineMs = 5000): Promise<{ code: number; response?: Buffer }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(path, (m) => m, (r) => r, message, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, response) =>
      resolve(err ? { code: err.code } : { code: grpc.status.OK, ...(response ? { response } : {}) }),
    );
  });
}

/** A unary call sending `messages` request messages (a client-streaming call on a unary path). */
function sendMessages(client: grpc.Client, path: string, messages: Buffer[]): Promise<number> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest<Buffer, Buffer>(path, (m) => m, (r) => r, new grpc.Metadata(), {}, (err) => resolve(err ? err.code : grpc.status.OK));
    for (const m of messages) call.write(m);
    call.end();
  });
}

/** A real memory store whose consume waits until release(): a check held in flight. */
class HeldStore extends MemoryReplayStore {
  #release: (() => void) | undefined;
  #held = new Promise<void>((resolve) => (this.#release = resolve));
  waiting = 0;
  override async consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number): Promise<ConsumeResult> {
    this.waiting++;
    await this.#held;
    return super.consume(key, ttlMs, nowMs, acceptedFromMs);
  }
  release(): void {
    this.#release!();
  }
}

describe('gRPC transport (node:http2, no grpc-js server)', function () {
  this.timeout(30_000);

  describe('its parsers', () => {
    it('reads grpc-timeout exactly as PROTOCOL-HTTP2.md writes it: 1–8 digits and one unit of H M S m u n', () => {
      assert.equal(parseGrpcTimeout('1S'), 1000);
      assert.equal(parseGrpcTimeout('200m'), 200);
      assert.equal(parseGrpcTimeout('2H'), 7_200_000);
      assert.equal(parseGrpcTimeout('3M'), 180_000);
      assert.equal(parseGrpcTimeout('1500u'), 1.5);
      assert.equal(parseGrpcTimeout('99999999n'), 99.999999);
      assert.equal(parseGrpcTimeout('00000000S'), 0);
      for (const bad of ['', 'S', '1', '123456789m', '1s', '1 S', ' 1S', '1S ', '-1S', '1.5S', '+1S', '1SS', '0x1S']) assert.equal(parseGrpcTimeout(bad), undefined, bad);
    });

    it('takes application/grpc, +proto and parameters as the content-type, nothing else', () => {
      for (const ok of ['application/grpc', 'application/grpc+proto', 'application/grpc;charset=utf-8', 'Application/GRPC']) assert.ok(isGrpcContentType(ok), ok);
      for (const bad of [undefined, '', 'application/json', 'application/grpc+json', 'application/grpc-web', 'application/grpcx', 'text/plain']) assert.ok(!isGrpcContentType(bad), String(bad));
    });

    it('percent-encodes grpc-message: bytes outside 0x20–0x7E and % itself', () => {
      assert.equal(percentEncode('plain text: ok'), 'plain text: ok');
      assert.equal(percentEncode('100% sure\n'), '100%25 sure%0A');
      assert.equal(percentEncode('é'), '%C3%A9');
      assert.equal(decodeURIComponent(percentEncode('a%b\tc→d')), 'a%b\tc→d');
    });
  });

  describe('the real server', () => {
    const env = useRawServer('tp-transport-');
    let client: grpc.Client;
    before(() => void (client = new grpc.Client(env.srv.grpcAddress, grpc.credentials.createInsecure())));
    after(() => client?.close());

    it('answers a check: :status 200, application/grpc+proto, one framed message, grpc-status 0 in the trailers', async () => {
      const a = await raw(env.session, CHECK_PATH, framed(checkBytes(signCheck(env.trust))), { 'grpc-timeout': '5S' });
      assert.equal(a.headers[':status'], 200);
      assert.equal(a.headers['content-type'], 'application/grpc+proto');
      assert.equal(a.headers['grpc-accept-encoding'], 'identity');
      assert.equal(a.data[0], 0);
      assert.equal(a.data.readUInt32BE(1), a.data.length - 5);
      assert.equal(a.trailers['grpc-status'], '0');
    });

    it('sheds a check at its HEADERS (grpc-timeout inside the answer margin): a complete `overloaded` answer before any of the message is sent, no RST_STREAM after it, the message sent later read and dropped, its jti unused', async () => {
      const bytes = checkBytes(signCheck(env.trust));
      const req = env.session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '3m' }, { endStream: false });
      const out: RawAnswer = { headers: {}, trailers: {}, data: Buffer.alloc(0) };
      req.on('response', (h) => (out.headers = h));
      req.on('data', (c: Buffer) => (out.data = Buffer.concat([out.data, c])));
      const closed = new Promise<void>((resolve) => req.on('close', resolve));
      await new Promise<void>((resolve) => req.on('trailers', (t) => resolve(void (out.trailers = t))));
      assert.equal(out.trailers['grpc-status'], '0');
      assert.equal(reasonOf(decodeOfficialCheckResponse(out.data.subarray(5))), 'overloaded');
      // The answer is whole and the request half is still open: no reset came (envoy-integration.md, "Shedding at the HEADERS").
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(req.closed, false, 'a reset would have closed the stream');
      assert.equal(req.destroyed, false);
      req.end(framed(bytes));
      await closed;
      assert.equal(out.data.length, out.data.readUInt32BE(1) + 5, 'one answer only');
      assertAllow(await checkOn(env.srv, bytes), 'payments-create');
    });

    it('answers HTTP 415 to a content-type that is not application/grpc, and 405 to a method other than POST', async () => {
      const wrongType = await raw(env.session, CHECK_PATH, framed(checkBytes(signCheck(env.trust))), { 'content-type': 'application/json' });
      assert.equal(wrongType.headers[':status'], 415);
      assert.equal(wrongType.headers['grpc-status'], undefined);
      const noType = await raw(env.session, CHECK_PATH, framed(Buffer.alloc(0)), { 'content-type': undefined as unknown as string });
      assert.equal(noType.headers[':status'], 415);
      const get = await raw(env.session, CHECK_PATH, Buffer.alloc(0), { ':method': 'PUT' });
      assert.equal(get.headers[':status'], 405);
    });

    it('answers UNIMPLEMENTED (12) to a method it does not serve, Trailers-Only', async () => {
      assert.equal((await unary(client, '/envoy.service.auth.v3.Authorization/Nope', Buffer.alloc(0))).code, grpc.status.UNIMPLEMENTED);
      assert.equal((await unary(client, '/envoy.service.auth.v2.Authorization/Check', Buffer.alloc(0))).code, grpc.status.UNIMPLEMENTED);
      const a = await raw(env.session, '/no.Such/Method', framed(Buffer.alloc(0)));
      assert.equal(a.headers[':status'], 200);
      assert.equal(a.headers['grpc-status'], '12');
      assert.deepEqual(a.trailers, {});
    });

    it('answers UNIMPLEMENTED (12) to a compressed message: it accepts identity only', async () => {
      const a = await raw(env.session, CHECK_PATH, framed(checkBytes(signCheck(env.trust)), 1), { 'grpc-encoding': 'gzip' });
      assert.equal(rawStatus(a), GrpcStatus.UNIMPLEMENTED);
      assert.equal(a.data.length, 0, 'no message was answered');
      // grpc-js compressing its first message, as a client configured for gzip does.
      const gzip = new grpc.Client(env.srv.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2, 'grpc.use_local_subchannel_pool': 1 });
      try {
        assert.equal((await unary(gzip, CHECK_PATH, checkBytes(signCheck(env.trust)))).code, grpc.status.UNIMPLEMENTED);
      } finally {
        gzip.close();
      }
    });

    it('answers RESOURCE_EXHAUSTED (8) to a message over 16 MiB from its prefix, without waiting for the message', async () => {
      const prefix = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]);
      // The stream stays open, the 2 GiB never come: the answer is from the prefix alone.
      const a = await raw(env.session, CHECK_PATH, Buffer.concat([prefix, Buffer.alloc(100)]), {}, false);
      assert.equal(rawStatus(a), GrpcStatus.RESOURCE_EXHAUSTED);
      const big = await unary(client, CHECK_PATH, Buffer.alloc(16 * 1024 * 1024 + 1));
      assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
      // 16 MiB itself is read (and denied as a CheckRequest it is not), and the connection still serves.
      const atMax = await unary(client, CHECK_PATH, Buffer.alloc(16 * 1024 * 1024));
      assert.equal(atMax.code, grpc.status.OK);
      assertAllow(await checkOn(env.srv, checkBytes(signCheck(env.trust))), 'payments-create');
    });

    it('answers UNIMPLEMENTED (12) to a unary call with two request messages or none, as grpc-js did', async () => {
      const bytes = checkBytes(signCheck(env.trust));
      assert.equal(await sendMessages(client, CHECK_PATH, [bytes, bytes]), grpc.status.UNIMPLEMENTED);
      assert.equal(await sendMessages(client, CHECK_PATH, []), grpc.status.UNIMPLEMENTED);
      const truncated = await raw(env.session, CHECK_PATH, framed(bytes).subarray(0, 20));
      assert.equal(rawStatus(truncated), GrpcStatus.INTERNAL);
    });

    it('answers INTERNAL (13) to a grpc-timeout outside the spec grammar, as grpc-js did', async () => {
      for (const bad of ['1s', '123456789m', '1.5S', 'soon']) {
        const a = await raw(env.session, CHECK_PATH, framed(checkBytes(signCheck(env.trust))), { 'grpc-timeout': bad });
        assert.equal(rawStatus(a), GrpcStatus.INTERNAL, bad);
        assert.match(decodeURIComponent(String(a.headers['grpc-message'])), /grpc-timeout/);
      }
    });

    it('answers INTERNAL (13) to health request bytes that are not a HealthCheckRequest, NOT_FOUND (5) to an unknown service', async () => {
      assert.equal((await unary(client, '/grpc.health.v1.Health/Check', Buffer.from([0x0b]))).code, grpc.status.INTERNAL);
      assert.equal((await unary(client, '/grpc.health.v1.Health/Check', Buffer.from([0x0a, 0x03, 0x66, 0x6f, 0x6f]))).code, grpc.status.NOT_FOUND);
    });
  });

  it('a client resetting a check mid-call: no crash, the overload gate released exactly once, the next check allowed', async () => {
    const trust = makeTrust('tp-transport-reset-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
    const store = new HeldStore({ maxEntries: 100, generationStartMs: -Infinity });
    const srv = await startInProcess(trust, {}, { store });
    const client = new grpc.Client(srv.grpcAddress, grpc.credentials.createInsecure());
    try {
      const outcome = new Promise<number>((resolve) => {
        const call = client.makeUnaryRequest<Buffer, Buffer>(CHECK_PATH, (m) => m, (r) => r, checkBytes(signCheck(trust)), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(err ? err.code : 0));
        void waitFor('the check held at the store', () => store.waiting === 1, 5000, 5).then(() => call.cancel());
      });
      assert.equal(await outcome, grpc.status.CANCELLED);
      assert.equal(srv.server.check.inFlight, 1);
      store.release();
      await waitFor('the held check decided', () => srv.server.check.inFlight === 0, 5000, 5);
      assertAllow(await checkOn(srv, checkBytes(signCheck(trust))), 'payments-create');
      assert.equal(srv.server.check.inFlight, 0, 'released once: not below zero');
    } finally {
      client.close();
      await srv.server.close();
      trust.dispose();
    }
  });

  it('a check whose client sends its message and resets the stream at once: no answer, nothing left in flight, its jti unused', async () => {
    const trust = makeTrust('tp-transport-queued-reset-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
    const srv = await startInProcess(trust);
    const session = connect(`http://${srv.grpcAddress}`);
    session.on('error', () => {});
    try {
      const bytes = checkBytes(signCheck(trust));
      // The message and the reset together: the server reads both in one turn, so the reset is
      // known by the time the check's turn comes (here at once: the gate is idle and decides as it
      // reads). The client's HTTP/2 library may send the reset before the DATA frame, or instead of
      // it, so this cannot show the server held the check; check-service-queue.test.ts resets a
      // check the server holds in its run queue, at a known point.
      const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' });
      req.on('error', () => {});
      let answered = false;
      req.on('response', () => (answered = true));
      req.end(framed(bytes));
      req.close(constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => req.on('close', resolve));
      await waitFor('the gate at 0', () => srv.server.check.inFlight === 0, 5000, 5);
      assert.equal(answered, false);
      assertAllow(await checkOn(srv, bytes), 'payments-create');
    } finally {
      session.close();
      await srv.server.close();
      trust.dispose();
    }
  });

  it('an early answer (an Admission answering at the HEADERS) never calls the handler, and a client that never finishes its request is reset with NO_ERROR at the receive limit', async () => {
    const server = new GrpcServer(undefined, { receiveLimitMs: 150 });
    let handled = 0;
    server.unary('/test.Early/Unary', () => void handled++, { admit: (call) => call.reply(Buffer.from('early')) });
    const session = connect(`http://127.0.0.1:${await server.listen('127.0.0.1:0')}`);
    session.on('error', () => {});
    try {
      const t0 = Date.now();
      const a = await raw(session, '/test.Early/Unary', framed(Buffer.from('x')).subarray(0, 3), {}, false);
      assert.equal(rawStatus(a), GrpcStatus.OK);
      assert.equal(a.data.subarray(5).toString(), 'early');
      assert.ok(Date.now() - t0 >= 140, `closed after ${Date.now() - t0} ms, at the receive limit`);
      assert.equal(a.rstCode, constants.NGHTTP2_NO_ERROR, 'reset with NO_ERROR, so the answer stands');
      const whole = await raw(session, '/test.Early/Unary', framed(Buffer.from('x')));
      assert.equal(whole.data.subarray(5).toString(), 'early');
      assert.equal(handled, 0);
    } finally {
      session.close();
      await server.shutdown(1000);
    }
  });

  describe('a bare transport with a slow handler', () => {
    let server: GrpcServer;
    let address: string;
    const pending: (() => void)[] = [];
    let calls = 0;
    before(async () => {
      server = new GrpcServer();
      server.unary('/test.Slow/Unary', (call) => {
        calls++;
        const t = setTimeout(() => call.reply(Buffer.from('late')), 150);
        pending.push(() => clearTimeout(t));
      });
      address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    });
    after(async () => {
      for (const p of pending) p();
      await server.shutdown(1000);
    });

    it('answers DEADLINE_EXCEEDED (4) when the answer is ready after the deadline, and the answer when it is in time', async () => {
      const session = connect(`http://${address}`);
      try {
        const late = await raw(session, '/test.Slow/Unary', framed(Buffer.from('x')), { 'grpc-timeout': '50m' });
        assert.equal(rawStatus(late), GrpcStatus.DEADLINE_EXCEEDED);
        assert.equal(late.data.length, 0);
        const inTime = await raw(session, '/test.Slow/Unary', framed(Buffer.from('x')), { 'grpc-timeout': '5S' });
        assert.equal(rawStatus(inTime), GrpcStatus.OK);
        assert.equal(inTime.data.subarray(5).toString(), 'late');
      } finally {
        session.close();
      }
      const client = new grpc.Client(address, grpc.credentials.createInsecure());
      try {
        assert.equal((await unary(client, '/test.Slow/Unary', Buffer.from('x'), 50)).code, grpc.status.DEADLINE_EXCEEDED);
      } finally {
        client.close();
      }
    });

    it('a graceful shutdown lets the call in flight finish', async () => {
      const client = new grpc.Client(address, grpc.credentials.createInsecure());
      try {
        const before = calls;
        const answer = unary(client, '/test.Slow/Unary', Buffer.from('x'));
        await waitFor('the call in the handler', () => calls > before, 5000, 5);
        const stopped = server.shutdown(5000);
        const r = await answer;
        assert.equal(r.code, grpc.status.OK);
        assert.equal(r.response?.toString(), 'late');
        await stopped;
      } finally {
        client.close();
      }
    });
  });
});

/** One check on a client of its own connection to the server. */
async function checkOn(srv: InProcessServer, bytes: Buffer): Promise<Awaited<ReturnType<ReturnType<typeof makeCheckClient>['check']>>> {
  const client = makeCheckClient(srv.grpcAddress, { ownConnection: true });
  try {
    return await client.check(bytes);
  } finally {
    client.close();
  }
}
