import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
    ...overrides,
  } as AuditEvent;
}

const EXPECTED_LINE =
  '{"schema":"trustplane-auth-audit-event-v0.1","time":"2026-01-02T03:04:05.678Z","decision_id":"d-0001",' +
  '"decision":"allow","enforced":true,"reason_code":"ok","route_id":"orders-read","audience":"https://orders.example.com",' +
  '"issuer":"https://issuer.example.com","subject":"spiffe://example.org/ns/shop/sa/web","trust_domain":"example.org",' +
  '"jti":"jti-123","kid":"issuer-key-1","key_binding":"software","transcript_sha256":"n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg",' +
  '"method":"GET","authority":"orders.example.com","path":"/v1/orders/42?expand=items","source_address":"10.0.0.7:51234",' +
  '"source_principal":null,"bundle_serial":7,"latency_us":412}\n';

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
