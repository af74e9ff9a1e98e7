import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AuditSink } from '../../authz-server/src/audit-sink.js';
import { REDACTED, REDACTED_JWS, isSensitiveKey, looksLikeJws, redactForLog } from '../../core/src/redact.js';
import { AUDIT_SCHEMA } from '../../core/src/types.js';
import type { AuditEvent } from '../../core/src/types.js';

/** A real compact JWS (EdDSA), the shape of a passport. */
function realJws(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'tp-passport+jwt', kid: 'k1' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub: 'spiffe://example.org/ns/a/sa/b', jti: 'j-1' })).toString('base64url');
  const signature = sign(null, Buffer.from(`${header}.${payload}`), privateKey).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

function event(overrides: Partial<Record<keyof AuditEvent, unknown>> = {}): AuditEvent {
  return {
    schema: AUDIT_SCHEMA,
    time: '2026-01-02T03:04:05.678Z',
    decision_id: 'd-0001',
    decision: 'allow',
    enforced: true,
    reason_code: 'ok',
    phase: 'decision',
    detail: null,
    route_id: 'orders-read',
    audience: 'https://orders.example.com',
    issuer: 'https://issuer.example.com',
    subject: 'spiffe://example.org/ns/shop/sa/web',
    trust_domain: 'example.org',
    jti: 'jti-123',
    kid: 'issuer-key-1',
    key_binding: 'software',
    transcript_sha256: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg',
    method: 'GET',
    authority: 'orders.example.com',
    path: '/v1/orders/42?expand=items',
    source_address: '10.0.0.7:51234',
    source_principal: null,
    bundle_serial: 7,
    latency_us: 412,
    credential_kind: 'transcript-v1',
    credential_mode: 'per_request',
    bound: 'method authority path query headers body',
    dpop_jti: null,
    ...overrides,
  } as AuditEvent;
}

const EXPECTED_LINE =
  '{"schema":"trustplane-auth-audit-event-v0.2","time":"2026-01-02T03:04:05.678Z","decision_id":"d-0001",' +
  '"decision":"allow","enforced":true,"reason_code":"ok","phase":"decision","detail":null,"route_id":"orders-read","audience":"https://orders.example.com",' +
  '"issuer":"https://issuer.example.com","subject":"spiffe://example.org/ns/shop/sa/web","trust_domain":"example.org",' +
  '"jti":"jti-123","kid":"issuer-key-1","key_binding":"software","transcript_sha256":"n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg",' +
  '"method":"GET","authority":"orders.example.com","path":"/v1/orders/42?expand=items","source_address":"10.0.0.7:51234",' +
  '"source_principal":null,"bundle_serial":7,"latency_us":412,"credential_kind":"transcript-v1","credential_mode":"per_request",' +
  '"bound":"method authority path query headers body","dpop_jti":null}\n';

describe('AuditSink', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'trustplane-audit-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends exactly one JSON line per event to a file, in field order, and close() resolves after the write', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file });
    sink.write(event());
    sink.write(event({ decision_id: 'd-0002', decision: 'deny', reason_code: 'jti_replay' }));
    await sink.close();
    const expectedSecond = EXPECTED_LINE.replace('"d-0001","decision":"allow"', '"d-0002","decision":"deny"').replace('"reason_code":"ok"', '"reason_code":"jti_replay"');
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE + expectedSecond);
    assert.equal(sink.written, 2);
    assert.equal(sink.dropped, 0);
  });

  it('keeps what the file already holds (append) and flush() makes every accepted line readable', async () => {
    const file = path.join(dir, 'audit.jsonl');
    writeFileSync(file, 'previous\n');
    const sink = await AuditSink.open({ sink: 'file', file });
    for (let i = 0; i < 100; i++) sink.write(event({ latency_us: i }));
    await sink.flush();
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.length, 102); // previous + 100 events + the empty string after the last newline
    assert.equal(lines[0], 'previous');
    assert.equal(JSON.parse(lines[100] ?? '').latency_us, 99);
    assert.equal(lines[101], '');
    await sink.close();
  });

  it('masks a planted JWS and a planted JWK "d" before writing', async () => {
    const jws = realJws();
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file });
    const planted = {
      ...event({ path: `/v1/orders?access=${jws}`, subject: jws }),
      cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'pub-x', d: 'PRIVATE-SCALAR' } },
    } as unknown as AuditEvent;
    sink.write(planted);
    await sink.close();
    const text = readFileSync(file, 'utf8');
    assert.equal(text.includes(jws), false);
    assert.equal(text.includes(jws.split('.')[2] ?? 'x'), false);
    assert.equal(text.includes('PRIVATE-SCALAR'), false);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.equal(parsed.path, `/v1/orders?access=${REDACTED_JWS}`);
    assert.equal(parsed.subject, REDACTED_JWS);
    assert.deepEqual(parsed.cnf, { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'pub-x', d: REDACTED } });
    assert.equal(parsed.jti, 'jti-123');
  });

  it('masks a URL password and a PEM private key in any field, on the fast line and on the generic one', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const secret = 'pw-that-must-not-leak';
    const planted = event({ decision: 'deny', reason_code: 'route_request_mismatch', detail: `header "x-upstream" is "https://ops:${secret}@up.internal/a" ${pem}`, path: `/a?u=redis://u:${secret}@r:6379` });
    // The fast path (a flat event) and the generic walk (a nested member forces it) must agree.
    for (const e of [planted, { ...planted, extra: { note: pem } } as unknown as AuditEvent]) {
      const line = AuditSink.line(e);
      assert.equal(line.includes(secret), false, line);
      for (const body of pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'))) assert.equal(line.includes(body), false);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      assert.equal(parsed.detail, `header "x-upstream" is "https://${REDACTED}@up.internal/a" ${REDACTED}%0A`);
      assert.equal(parsed.path, `/a?u=redis://${REDACTED}@r:6379`);
    }
  });

  it('drops (and counts) events written after close, and close is idempotent', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file });
    sink.write(event());
    await sink.close();
    sink.write(event());
    await sink.close();
    assert.equal(sink.written, 1);
    assert.equal(sink.dropped, 1);
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE);
  });

  it('drops and counts events while the queued backlog exceeds maxBufferedBytes', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file }, { maxBufferedBytes: 1 });
    // The first line is queued (backlog 0 before it); the next ones see a backlog over 1 byte.
    sink.write(event());
    sink.write(event());
    sink.write(event());
    await sink.close();
    assert.equal(sink.written, 1);
    assert.equal(sink.dropped, 2);
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE);
  });

  it('counts the lines still batched in the backlog, before the stream holds any of them', async () => {
    const file = path.join(dir, 'audit.jsonl');
    // Room for two lines and a half: the third is accepted (two queued, under the limit), the rest not.
    const sink = await AuditSink.open({ sink: 'file', file }, { maxBufferedBytes: Math.floor(EXPECTED_LINE.length * 2.5) });
    for (let i = 0; i < 10; i++) sink.write(event());
    await sink.close();
    assert.equal(sink.written, 3);
    assert.equal(sink.dropped, 7);
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE.repeat(3));
  });

  it('writes what one turn accepted at the end of that turn, without a flush', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file });
    sink.write(event());
    sink.write(event());
    const deadline = Date.now() + 5000;
    while (sink.written < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(sink.written, 2);
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE.repeat(2));
    await sink.close();
  });

  it('with flushIntervalMs, collects the lines of several turns into one write after the interval; flush() does not wait for it', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file }, { flushIntervalMs: 300 });
    const started = Date.now();
    sink.write(event());
    await new Promise((resolve) => setImmediate(resolve));
    sink.write(event());
    await new Promise((resolve) => setTimeout(resolve, 20));
    sink.write(event());
    // Turns have passed, the interval has not: nothing written yet (unless this machine stalled).
    if (Date.now() - started < 250) {
      assert.equal(sink.written, 0);
      assert.equal(readFileSync(file, 'utf8'), '');
    }
    const deadline = Date.now() + 5000;
    while (sink.written < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(sink.written, 3);
    assert.ok(Date.now() - started >= 290, 'written before the interval');
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE.repeat(3));
    sink.write(event());
    await sink.flush();
    assert.equal(sink.written, 4);
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE.repeat(4));
    await sink.close();
  });

  it('while lines keep coming, starts at most one write per flushIntervalMs, not one per completed write', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const intervalMs = 50;
    const sink = await AuditSink.open({ sink: 'file', file }, { flushIntervalMs: intervalMs });
    const started = performance.now();
    let lines = 0;
    // A line about every millisecond for 600 ms (a batch of 50 ms holds far less than maxBatchBytes):
    // a write completes within a millisecond or two, so a sink that started the next write at each
    // completion made hundreds of writes here.
    while (performance.now() - started < 600) {
      sink.write(event({ latency_us: lines++ }));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const elapsedMs = performance.now() - started;
    await sink.flush();
    assert.equal(sink.written, lines);
    assert.ok(sink.writes >= 2, `${sink.writes} writes`);
    // One per interval started, the first after the first interval, and the flush.
    assert.ok(sink.writes <= Math.floor(elapsedMs / intervalMs) + 1, `${sink.writes} writes in ${Math.round(elapsedMs)} ms`);
    assert.equal(readFileSync(file, 'utf8'), Array.from({ length: lines }, (_, i) => AuditSink.line(event({ latency_us: i }))).join(''));
    await sink.close();
  });

  it('writes whole batches one after the other without waiting for the interval', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file }, { flushIntervalMs: 60_000, maxBatchBytes: EXPECTED_LINE.length * 4 });
    // 41 lines in one turn: ten whole batches of four and one line in a part-filled batch.
    for (let i = 0; i < 41; i++) sink.write(event());
    const deadline = Date.now() + 5000;
    while (sink.written < 40 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(sink.written, 40);
    assert.equal(sink.writes, 10);
    // The part-filled batch waits for the interval (a minute), or for flush().
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sink.written, 40);
    await sink.flush();
    assert.equal(sink.written, 41);
    assert.equal(sink.writes, 11);
    assert.equal(readFileSync(file, 'utf8'), EXPECTED_LINE.repeat(41));
    await sink.close();
  });

  it('splits a turn into writes of at most maxBatchBytes, each of whole lines, and keeps every line in order', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const sink = await AuditSink.open({ sink: 'file', file }, { maxBatchBytes: 1500 });
    const events: AuditEvent[] = [];
    for (let i = 0; i < 400; i++) {
      // Mostly ~600-byte lines, some that fill a batch exactly or exceed it alone (sent alone).
      const pathLength = i % 50 === 7 ? 3000 : i % 13 === 0 ? 1500 - EXPECTED_LINE.length : 10 + (i % 17);
      events.push(event({ path: `/${'p'.repeat(pathLength)}`, latency_us: i }));
    }
    for (const [i, e] of events.entries()) {
      sink.write(e);
      if (i % 37 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await sink.flush();
    assert.equal(sink.written, events.length);
    assert.equal(readFileSync(file, 'utf8'), events.map((e) => AuditSink.line(e)).join(''));
    await sink.close();
  });

  it('after a write error counts every accepted line exactly once, tells onError once and drops what follows', async () => {
    const errors: Error[] = [];
    // /dev/full opens for writing and fails every write with ENOSPC.
    const sink = await AuditSink.open({ sink: 'file', file: '/dev/full' }, { onError: (e) => errors.push(e) });
    for (let i = 0; i < 50; i++) sink.write(event());
    await sink.flush();
    for (let i = 0; i < 50; i++) sink.write(event());
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 25; i++) sink.write(event());
    await sink.close();
    assert.equal(sink.written, 0);
    assert.equal(sink.dropped, 125);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
  });

  it('keeps lines whole on a stdout pipe shared by several processes writing bursts at once', async function () {
    this.timeout(60_000);
    const LINES_PER_WRITER = 3000;
    const sinkUrl = pathToFileURL(fileURLToPath(new URL('../../authz-server/src/audit-sink.js', import.meta.url))).href;
    // The writers start together (a shared start time) and each accepts bursts of 200 lines (~130 KB)
    // per turn, so their batches meet at a full pipe.
    const writer = path.join(dir, 'writer.mjs');
    writeFileSync(
      writer,
      `const { AuditSink } = await import(${JSON.stringify(sinkUrl)});
      const sink = await AuditSink.open({ sink: 'stdout' });
      await new Promise((resolve) => setTimeout(resolve, Number(process.argv[3]) - Date.now()));
      for (let i = 0; i < LINES; i++) {
        sink.write({ writer: process.argv[2], i, pad: 'x'.repeat(600) });
        if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
      }
      await sink.close();`.replace('LINES', String(LINES_PER_WRITER)),
    );
    // One shell, so all writers inherit the same pipe as their stdout, as cluster workers do.
    const start = Date.now() + 1500;
    const writers = [1, 2, 3, 4].map((n) => `"$0" "$1" ${n} ${start} &`).join(' ');
    const child = spawn("/bin/sh", ["-c", `(${writers} wait) | cat`, process.execPath, writer], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('utf8');
    // Read slowly so the pipe fills and writers wait on it together.
    child.stdout.on('data', (chunk: string) => {
      text += chunk;
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 1);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    const lines = text.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 4 * LINES_PER_WRITER);
    const seen = new Set<string>();
    for (const line of lines) {
      const parsed = JSON.parse(line) as { writer: string; i: number };
      seen.add(`${parsed.writer}:${parsed.i}`);
    }
    assert.equal(seen.size, 4 * LINES_PER_WRITER);
  });

  it('has every field of the event documented in docs/audit-event.md, in line order', () => {
    const docs = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/audit-event.md'), 'utf8');
    const documented = [...docs.matchAll(/^\| `([a-z_0-9]+)` \|/gm)].map((x) => x[1]);
    assert.deepEqual(documented, Object.keys(JSON.parse(AuditSink.line(event())) as object));
    assert.ok(docs.includes(`# Audit event — \`${AUDIT_SCHEMA}\``));
  });

  it('refuses to open a file sink whose directory does not exist', async () => {
    await assert.rejects(AuditSink.open({ sink: 'file', file: path.join(dir, 'missing', 'audit.jsonl') }), { code: 'ENOENT' });
  });

  it('writes nothing for sink none, and produces exactly the documented line via AuditSink.line', async () => {
    const sink = await AuditSink.open({ sink: 'none' });
    sink.write(event());
    await sink.close();
    assert.equal(sink.written, 0);
    assert.equal(sink.dropped, 0);
    assert.equal(AuditSink.line(event()), EXPECTED_LINE);
  });
});

describe('redactForLog', () => {
  it('masks values under secret-looking key names, however they are spelt', () => {
    const input = {
      'X-TrustPlane-Passport': 'p',
      'x-trustplane-proof': 'q',
      authorization: 'Bearer abc',
      Cookie: 'sid=1',
      'set-cookie': 'sid=2',
      access_token: 't',
      refreshToken: 't2',
      client_secret: 's',
      signature: 'sig',
      private_key: 'pk',
      privateKey: 'pk2',
      password: 'pw',
      d: 'scalar',
      jti: 'j-1',
      sub: 'spiffe://example.org/x',
      kid: 'k1',
      transcript_sha256: 'abc',
    };
    assert.deepEqual(redactForLog(input), {
      'X-TrustPlane-Passport': REDACTED,
      'x-trustplane-proof': REDACTED,
      authorization: REDACTED,
      Cookie: REDACTED,
      'set-cookie': REDACTED,
      access_token: REDACTED,
      refreshToken: REDACTED,
      client_secret: REDACTED,
      signature: REDACTED,
      private_key: REDACTED,
      privateKey: REDACTED,
      password: REDACTED,
      d: REDACTED,
      jti: 'j-1',
      sub: 'spiffe://example.org/x',
      kid: 'k1',
      transcript_sha256: 'abc',
    });
    assert.equal(isSensitiveKey('key_binding'), false);
    assert.equal(isSensitiveKey('decision_id'), false);
  });

  it('masks every private member of a JWK (RSA, oct) but keeps the public ones', () => {
    assert.deepEqual(redactForLog({ kty: 'RSA', n: 'modulus', e: 'AQAB', p: '1', q: '2', dp: '3', dq: '4', qi: '5' }), {
      kty: 'RSA',
      n: 'modulus',
      e: 'AQAB',
      p: REDACTED,
      q: REDACTED,
      dp: REDACTED,
      dq: REDACTED,
      qi: REDACTED,
    });
    assert.deepEqual(redactForLog({ kty: 'oct', k: 'hmac-key' }), { kty: 'oct', k: REDACTED });
    // Outside a JWK, `p`/`k` are ordinary names.
    assert.deepEqual(redactForLog({ p: 1, k: 2 }), { p: 1, k: 2 });
  });

  it('replaces a JWS inside any string, at any depth, and leaves long host names alone', () => {
    const jws = realJws();
    assert.equal(looksLikeJws(jws), true);
    assert.deepEqual(redactForLog({ note: [`header was Bearer ${jws}, refused`] }), { note: [`header was Bearer ${REDACTED_JWS}, refused`] });
    // A fourth segment glued on, or a label glued in front, does not let it through.
    assert.equal(redactForLog(`x.${jws}`), REDACTED_JWS);
    const host = 'payments-internal-api-service.example-company.com';
    assert.equal(host.length > 40, true);
    assert.equal(looksLikeJws(host), false);
    assert.equal(redactForLog(host), host);
    assert.equal(looksLikeJws('eyJhbGciOiJub25lIn0.e30.'), false); // under 41 characters
  });

  it('copies without modifying the input and survives cycles, __proto__ keys, bytes, Maps and errors', () => {
    const jws = realJws();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const withProto = JSON.parse('{"__proto__": {"token": "x"}, "ok": true}') as object;
    const error = Object.assign(new Error(`bad passport ${jws}`), { code: 'E_X' });
    const input = { cyclic, withProto, bytes: new Uint8Array(5), map: new Map([['proof', 'p'], ['route', 'r']]), error };
    const out = redactForLog(input) as Record<string, unknown>;
    assert.deepEqual(out.cyclic, { a: 1, self: '[Circular]' });
    assert.equal(Object.getPrototypeOf(out.withProto), Object.prototype);
    assert.equal(JSON.stringify(out.withProto), '{"__proto__":{"token":"[REDACTED]"},"ok":true}');
    assert.equal(out.bytes, '[5 bytes]');
    assert.deepEqual(out.map, { proof: REDACTED, route: 'r' });
    assert.deepEqual(out.error, { name: 'Error', message: `bad passport ${REDACTED_JWS}`, code: 'E_X' });
    assert.equal(cyclic.self, cyclic);
    assert.equal(error.message, `bad passport ${jws}`);
  });

  it('stays linear on a megabyte of base64url without dots', () => {
    const big = 'a'.repeat(1 << 20) + '.b';
    const start = process.hrtime.bigint();
    assert.equal(redactForLog(big), big);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 200, `took ${ms} ms`);
  });
});
