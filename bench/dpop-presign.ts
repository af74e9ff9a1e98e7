/**
 * The DPoP requests of bench/reusable.ts (docs/dpop.md): one DPoP-bound access token (RFC 9068
 * `typ` at+jwt, `cnf.jkt`) signed by the bench issuer key with `jose`, and a fresh DPoP proof per
 * request made by the third-party `dpop` client (RFC 9449) — the same parts the interop tests use
 * (test/support/dpop-client.ts), never TrustPlane's own signer. Pre-signed before any timing, like
 * the passport modes' requests (./load-server.ts `presign`).
 */
import { randomUUID } from 'node:crypto';
import { calculateThumbprint, generateKeyPair, generateProof } from 'dpop';
import { SignJWT } from 'jose';
import type { SigningKey } from '../core/src/keys.js';
import type { SigningAlg } from '../core/src/types.js';
import { envoyCheckRequest } from '../test/support/envoy-api.js';

/**
 * `count` CheckRequests (Envoy's official definitions, body buffered as for the passport modes) for
 * POST `https://authority + path` with `headers` and `body`, all presenting one access token of
 * `lifetimeS`, each with its own proof (own `jti`) made with a fresh `proofAlg` key.
 *
 * The proofs are dated now (the `dpop` client sets `iat` itself), so the caller starts this only
 * once the server's replay generation is older than the clock tolerance: a proof that could have
 * been accepted before the generation began is `replay_state_lost` (docs/dpop.md §6).
 */
export async function presignDpop(o: {
  readonly issuerKey: SigningKey;
  readonly issuer: string;
  readonly subject: string;
  readonly audience: string;
  readonly proofAlg: SigningAlg;
  readonly authority: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly count: number;
  readonly lifetimeS: number;
}): Promise<Buffer[]> {
  const keypair = await generateKeyPair(o.proofAlg === 'EdDSA' ? 'Ed25519' : 'ES256');
  const iat = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ cnf: { jkt: await calculateThumbprint(keypair.publicKey) } })
    .setProtectedHeader({ alg: o.issuerKey.alg, typ: 'at+jwt', kid: o.issuerKey.kid })
    .setIssuer(o.issuer)
    .setSubject(o.subject)
    .setAudience(o.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + o.lifetimeS)
    .setJti(randomUUID())
    .sign(o.issuerKey.privateKey);
  const htu = `https://${o.authority}${o.path}`;
  const out: Buffer[] = [];
  for (let i = 0; i < o.count; i++) {
    const proof = await generateProof(keypair, htu, 'POST', undefined, token);
    out.push(
      envoyCheckRequest({
        method: 'POST',
        scheme: 'https',
        authority: o.authority,
        path: o.path,
        headers: [...Object.entries(o.headers), ['authorization', `DPoP ${token}`], ['dpop', proof]],
        body: o.body,
        withRequestBody: { maxRequestBytes: 1 << 20, packAsBytes: true },
        source: { address: '10.0.0.7', port: 51234 },
        time: new Date(),
      }),
    );
  }
  return out;
}
