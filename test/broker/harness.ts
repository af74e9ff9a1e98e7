/**
 * Runs a real broker on a Unix socket in a fresh temp folder, with a test SPIFFE CA whose root is the
 * broker's trust bundle, and talks to it with plain node:http so tests see exactly what a caller sees.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type RunningBroker } from '../../broker/src/broker.js';
import { parseBrokerConfig, type BrokerConfig } from '../../broker/src/config.js';
import { parseCompact } from '../../core/src/jws.js';
import type { PublicJwk } from '../../core/src/types.js';
import { createTestCa, type TestCa } from '../support/spiffe-ca.js';
import { createLogger } from '../../service/src/log.js';

export const TRUST_DOMAIN = 'example.org';
export const AUDIENCE = 'https://orders.example.org';

export interface TestBroker {
  readonly broker: RunningBroker;
  readonly config: BrokerConfig;
  readonly ca: TestCa;
  readonly dir: string;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startTestBroker(o: { raw?: Record<string, unknown>; spiffe?: boolean; intermediate?: boolean; nowMs?: () => number } = {}): Promise<TestBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-broker-test-'));
  const ca = await createTestCa({ trustDomain: TRUST_DOMAIN, intermediate: o.intermediate ?? false });
  writeFileSync(join(dir, 'roots.pem'), ca.rootPem);
  const raw: Record<string, unknown> = {
    socket_path: join(dir, 'run', 'broker.sock'),
    ...(o.spiffe === false ? {} : { spiffe: { trust_domain: TRUST_DOMAIN, bundle_file: join(dir, 'roots.pem'), attested_trust_entry: true } }),
    ...o.raw,
  };
  const config = parseBrokerConfig(raw);
  const logs: Record<string, unknown>[] = [];
  const broker = await startBroker(config, { logger: createLogger('debug', (line) => void logs.push(JSON.parse(line) as Record<string, unknown>)), ...(o.nowMs ? { nowMs: o.nowMs } : {}) });
  return {
    broker,
    config,
    ca,
    dir,
    logs,
    async close() {
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

export function call(socketPath: string, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer | object }): Promise<Reply> {
  const body = o.body === undefined ? undefined : typeof o.body === 'string' || Buffer.isBuffer(o.body) ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: o.method ?? 'POST',
        path: o.path ?? '/v1/passports',
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            /* metrics and raw answers are not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Verifies a passport with the broker's published JWKS, using node:crypto only; returns the claims. */
export function verifyWithJwks(passport: string, jwks: { keys: PublicJwk[] }): Record<string, unknown> {
  const jws = parseCompact(passport);
  if (!jws) throw new Error('not a compact JWS');
  const jwk = jwks.keys.find((k) => k.kid === jws.header.kid);
  if (!jwk) throw new Error('kid not in JWKS');
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y ? { y: jwk.y } : {}) } as never, format: 'jwk' });
  if (jws.header.alg !== 'EdDSA' || !verify(null, jws.signingInput, key, jws.signature)) throw new Error('passport signature does not verify');
  return { header: jws.header, ...jws.payload };
}

/**
 * A real group of this machine other than the test process's own, with its gid as NSS reports it
 * (getent, not the broker's /etc/group parser, so the two check each other).
 */
export function otherRealGroup(): { readonly name: string; readonly gid: number } {
  for (const name of ['daemon', 'nogroup', 'users', 'bin', 'sys']) {
    let line: string;
    try {
      line = execFileSync('getent', ['group', name], { encoding: 'utf8' }).trim();
    } catch {
      continue;
    }
    const gid = Number(line.split(':')[2]);
    if (Number.isSafeInteger(gid) && gid !== 0 && gid !== process.getgid?.()) return { name, gid };
  }
  throw new Error('no usable group found with getent (tried daemon, nogroup, users, bin, sys)');
}
