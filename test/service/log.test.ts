import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { exportPrivateJwk, generateSigningKey } from '../../core/src/keys.js';
import { issuePassport } from '../../core/src/passport.js';
import { redactString } from '../../core/src/redact.js';
import { createLogger, errorFields } from '../../service/src/log.js';

/** A logger that keeps its lines; each must be one JSON object. */
function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug', base: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const log = createLogger(level, (l) => void lines.push(l), base);
  const parsed = (): Record<string, unknown>[] => lines.map((l) => {
    assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'), `one line: ${l}`);
    return JSON.parse(l) as Record<string, unknown>;
  });
  return { log, lines, parsed };
}

describe('service: the operational log', () => {
  const key = generateSigningKey('EdDSA');
  const privateJwk = exportPrivateJwk(key);
  const holder = generateSigningKey('ES256');
  const passport = issuePassport({ key, issuer: 'https://broker.example', subject: 'spiffe://example.org/a', audience: 'https://api.example', trustDomain: 'example.org', holder: holder.publicJwk, keyBinding: 'software' });
  const pkcs8 = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' }) as string;
  const pemBody = (pem: string): string[] => pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const password = 'S3cr3t-Pw-that-must-not-leak';

  it('writes no secret: private keys (JWK and PEM), tokens, passwords, Redis URLs with credentials', () => {
    const { log, lines, parsed } = capture();
    log.error(`redis://default:${password}@redis.internal:6379 refused the connection`, {
      url: `rediss://:${password}@redis-0.redis:6380/0`,
      sentinel: `redis://sentinel-user:${password}@[fd00::1]:26379`,
      password,
      redis_password: password,
      key: privateJwk,
      authorization: `Bearer ${passport}`,
      header_value: `x ${passport} y`,
      ...errorFields(new Error(`cannot read the key file: ${pkcs8}and then ${sec1}`)),
    });
    log.warn('truncated key', { detail: pkcs8.slice(0, 80) });
    log.info('a password with a quote', { detail: `redis://u:pa"ss${password}@h:1` });
    const text = lines.join('');
    for (const secret of [password, privateJwk.d, passport, ...pemBody(pkcs8), ...pemBody(sec1), pkcs8.slice(28, 80)]) {
      assert.ok(!text.includes(secret), `a secret reached the log: ${secret.slice(0, 20)}…`);
    }
    const [first, truncated] = parsed();
    // What is not secret stays, so the line still says what went wrong and where.
    assert.equal(first!.msg, 'redis://[REDACTED]@redis.internal:6379 refused the connection');
    assert.equal(first!.url, 'rediss://[REDACTED]@redis-0.redis:6380/0');
    assert.equal(first!.sentinel, 'redis://[REDACTED]@[fd00::1]:26379');
    assert.equal(first!.password, '[REDACTED]');
    assert.equal(first!.authorization, '[REDACTED]');
    assert.equal(first!.header_value, 'x [REDACTED_JWS] y');
    assert.deepEqual(first!.key, { ...privateJwk, d: '[REDACTED]' });
    // Control characters are escaped before the line is written (core/src/printable.ts).
    assert.equal(first!.error, 'cannot read the key file: [REDACTED]%0Aand then [REDACTED]%0A');
    assert.equal(truncated!.detail, '[REDACTED]');
  });

  it('leaves URLs without credentials, e-mail-like text and plain lines alone', () => {
    for (const text of ['GET https://api.example/v1/a?x=a@b', 'mail ops@example.org', 'redis://redis:6379/0']) {
      assert.equal(redactString(text), text);
    }
  });

  it('filters by level, puts the base fields on every line, and never lets a field named like a secret through', () => {
    const { log, parsed } = capture('warn', { component: 'broker' });
    log.debug('hidden');
    log.info('hidden');
    log.warn('shown', { jti: 'abc', client_secret: 'x' });
    log.error('shown too');
    const got = parsed();
    assert.deepEqual(got.map((l) => [l.level, l.msg, l.component]), [['warn', 'shown', 'broker'], ['error', 'shown too', 'broker']]);
    assert.equal(got[0]!.jti, 'abc');
    assert.equal(got[0]!.client_secret, '[REDACTED]');
    assert.equal(got[0]!.pid, process.pid);
  });
});
