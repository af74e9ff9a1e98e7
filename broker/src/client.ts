/**
 * Calling a broker over its Unix socket: the passport request, the trust entry, and the proof of
 * possession a SPIFFE workload attaches. Used by the SDK and the CLI; depends only on node:http and
 * node:crypto, so callers do not load the X.509 library.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { request } from 'node:http';
import { b64url, sha256, jwkThumbprint, type TrustKey, type KeyBinding, type PublicJwk } from '../../core/src/index.js';
import { pemCertificateDer, popSigningInput, signPop } from './pop.js';

export interface PassportResponse {
  readonly passport: string;
  /** Unix seconds. */
  readonly expires_at: number;
  readonly jti: string;
  readonly subject: string;
  readonly key_binding: KeyBinding;
  readonly kid: string;
}

/** The broker refused (`code` is its error code) or could not be reached (`broker_unreachable`). */
export class BrokerRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly problems?: readonly string[],
  ) {
    super(message);
    this.name = 'BrokerRequestError';
  }
}

export interface ClientOptions {
  readonly timeoutMs?: number;
}

function call(socketPath: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(new BrokerRequestError('broker_response_invalid', `broker answered ${res.statusCode} without JSON`, res.statusCode));
            return;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', (err) => reject(new BrokerRequestError('broker_unreachable', err.message)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new BrokerRequestError('broker_unreachable', `broker at ${socketPath}: ${err.message}`)));
    req.end(payload);
  });
}

function refusal(status: number, json: unknown): BrokerRequestError {
  const j = (json ?? {}) as { error?: unknown; message?: unknown; problems?: unknown };
  return new BrokerRequestError(
    typeof j.error === 'string' ? j.error : 'broker_response_invalid',
    typeof j.message === 'string' ? j.message : `broker answered ${status}`,
    status,
    Array.isArray(j.problems) ? (j.problems as string[]) : undefined,
  );
}

/** `POST /v1/passports`; resolves with the passport or rejects with a BrokerRequestError. */
export async function requestPassport(socketPath: string, body: Record<string, unknown>, options: ClientOptions = {}): Promise<PassportResponse> {
  const { status, json } = await call(socketPath, 'POST', '/v1/passports', body, options.timeoutMs ?? 10_000);
  const r = json as Partial<PassportResponse> | null;
  if (status !== 200 || !r || typeof r.passport !== 'string' || typeof r.expires_at !== 'number') throw refusal(status, json);
  return r as PassportResponse;
}

/** `GET /v1/trust-entry`: the broker's issuer, trust domain and key, e.g. to learn `brokerIssuer`. */
export async function fetchTrustEntry(socketPath: string, options: ClientOptions = {}): Promise<TrustKey> {
  const { status, json } = await call(socketPath, 'GET', '/v1/trust-entry', undefined, options.timeoutMs ?? 10_000);
  if (status !== 200) throw refusal(status, json);
  return json as TrustKey;
}

export interface SpiffePopOptions {
  /** The X.509-SVID private key (Ed25519, P-256, P-384 or RSA). */
  readonly svidKey: KeyObject;
  /** The leaf certificate, PEM: the first element of `svid_chain`. */
  readonly leafPem: string;
  /** The broker's issuer URI (`fetchTrustEntry(...).issuer`). */
  readonly brokerIssuer: string;
  readonly audience: string;
  readonly holderJwk: PublicJwk;
  readonly route?: string;
  /** Only when the request carries `lifetime_s`, with the same value. */
  readonly lifetimeS?: number;
  /** Only when the request asks for a reusable passport (`"reusable": true`). */
  readonly reusable?: boolean;
  readonly nowMs?: number;
  readonly nonce?: string;
}

/** The `pop` member of a SPIFFE-path request: signed with the SVID key over the challenge in pop.ts. */
export function spiffePop(o: SpiffePopOptions): { iat: number; nonce: string; signature: string } {
  const der = pemCertificateDer(o.leafPem);
  if (!der) throw new TypeError('leafPem must be one PEM CERTIFICATE block');
  const iat = Math.floor((o.nowMs ?? Date.now()) / 1000);
  const nonce = o.nonce ?? b64url(randomBytes(18));
  const h = o.holderJwk;
  const input = popSigningInput({
    broker: o.brokerIssuer,
    audience: o.audience,
    ...(o.route !== undefined ? { route: o.route } : {}),
    ...(o.lifetimeS !== undefined ? { lifetimeS: o.lifetimeS } : {}),
    ...(o.reusable === true ? { reusable: true } : {}),
    holderJkt: jwkThumbprint({ kty: h.kty, crv: h.crv, x: h.x, ...(h.y !== undefined ? { y: h.y } : {}) }),
    svidSha256: b64url(sha256(der)),
    iat,
    nonce,
  });
  return { iat, nonce, signature: b64url(signPop(o.svidKey, input)) };
}
