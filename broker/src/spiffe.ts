/**
 * The SPIFFE path: verify a caller's X.509-SVID chain against the configured trust domain's roots,
 * then its proof of possession, before an `attested_workload` passport may be issued.
 *
 * Checks run in this order, all must pass, and the first failure is the answer (docs/broker.md):
 *   1. every chain element is one PEM certificate that parses, with no extension twice  svid_malformed
 *   2. the leaf has exactly one URI SAN                                                svid_uri_san_count
 *   3. that URI is a SPIFFE ID with a workload path (SPIFFE ID spec §2)                 svid_not_spiffe_id
 *   4. its trust domain is the configured one                                           svid_trust_domain_mismatch
 *   5. the leaf is not a CA (X509-SVID spec §4.1)                                       svid_leaf_is_ca
 *   6. leaf key usage has digitalSignature and neither keyCertSign nor cRLSign (§4.3)   svid_key_usage
 *   7. now is inside notBefore..notAfter of every certificate, the root included        svid_expired
 *   8. each certificate is signed by the next (intermediates are CAs within their path
 *      length, no unknown critical extension) and the last by a configured root         svid_chain_untrusted
 *   9. the proof of possession verifies with the leaf key, is fresh and unused           svid_pop_invalid
 * The leaf-only checks come first because they are cheap and name the most specific problem; nothing
 * is trusted until 8 passes, and the leaf key is used for 9 only after that.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { b64url, fromB64url, sha256 } from '../../core/src/index.js';
import type { SpiffePathConfig } from './config.js';
import { TRUST_DOMAIN } from './config.js';
import { refuse, type Refusal } from './errors.js';
import { pemCertificateDer, popSigningInput, verifyPop, type PopChallenge } from './pop.js';
import { x509 } from './x509.js';

type Cert = x509.X509Certificate;

const OID = Object.freeze({
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
});
/** Critical extensions this verifier understands; RFC 5280 §4.2 requires refusing any other. */
const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set(Object.values(OID));

const KU_DIGITAL_SIGNATURE = 1;
const KU_KEY_CERT_SIGN = 32;
const KU_CRL_SIGN = 64;

/** SPIFFE ID spec §2.2: path segments are letters, digits, `.`, `-`, `_`; never empty, `.` or `..`. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_SPIFFE_ID = 2048;
const PEM_BLOCKS = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

export type SpiffeIdParse = { ok: true; trustDomain: string; path: string } | { ok: false; why: string };

/** Parses a SPIFFE ID exactly as the SPIFFE ID spec allows; no normalisation, so one ID has one spelling. */
export function parseSpiffeId(id: string): SpiffeIdParse {
  if (id.length > MAX_SPIFFE_ID) return { ok: false, why: 'longer than 2048 bytes' };
  if (!id.startsWith('spiffe://')) return { ok: false, why: 'scheme is not "spiffe://"' };
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!TRUST_DOMAIN.test(trustDomain)) {
    return { ok: false, why: 'trust domain must be lower-case letters, digits, ".", "-", "_" (no port, user info or upper case)' };
  }
  const path = slash === -1 ? '' : rest.slice(slash);
  if (path !== '') {
    for (const seg of path.slice(1).split('/')) {
      if (seg === '' || seg === '.' || seg === '..') return { ok: false, why: 'path has an empty, "." or ".." segment' };
      if (!SEGMENT.test(seg)) return { ok: false, why: 'path has a character outside letters, digits, ".", "-", "_" (no query, fragment or escapes)' };
    }
  }
  return { ok: true, trustDomain, path };
}

/** One PEM certificate block, strictly: the DER is decoded here so the library never guesses a format. */
function parsePem(pem: string): Cert | undefined {
  const der = pemCertificateDer(pem);
  if (!der) return undefined;
  try {
    const cert = new x509.X509Certificate(der);
    // Parse every extension now, so a malformed one is a parse failure rather than a later throw.
    const seen = new Set<string>();
    for (const ext of cert.extensions) {
      if (seen.has(ext.type)) return undefined; // RFC 5280 §4.2: an extension appears at most once
      seen.add(ext.type);
    }
    return cert;
  } catch {
    return undefined;
  }
}

/** Reads a PEM bundle of roots; throws naming the problem (a broker must not start with bad anchors). */
export function loadTrustBundle(file: string): Cert[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`spiffe.bundle_file ${file}: ${(err as Error).message}`);
  }
  const blocks = text.match(PEM_BLOCKS) ?? [];
  if (blocks.length === 0) throw new Error(`spiffe.bundle_file ${file}: no PEM CERTIFICATE block`);
  return blocks.map((b, i) => {
    const cert = parsePem(b);
    if (!cert) throw new Error(`spiffe.bundle_file ${file}: certificate ${i + 1} does not parse`);
    if (!isCa(cert)) throw new Error(`spiffe.bundle_file ${file}: certificate ${i + 1} is not a CA (basicConstraints cA=false)`);
    return cert;
  });
}

function isCa(cert: Cert): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function sameName(a: x509.Name, b: x509.Name): boolean {
  // Byte equality of the DER names is stricter than RFC 5280 §7.1 matching; issuers (SPIRE included)
  // copy their subject into the certificates they sign, and the signature check decides anyway.
  return sameBytes(a.toArrayBuffer(), b.toArrayBuffer());
}

async function signedBy(cert: Cert, issuer: Cert): Promise<boolean> {
  if (!sameName(cert.issuerName, issuer.subjectName)) return false;
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

function unknownCritical(cert: Cert): string | undefined {
  return cert.extensions.find((e) => e.critical && !UNDERSTOOD_CRITICAL.has(e.type))?.type;
}

export interface VerifiedSvid {
  readonly ok: true;
  readonly spiffeId: string;
  readonly leafKey: KeyObject;
  /** base64url SHA-256 of the leaf DER, as the PoP challenge binds it. */
  readonly leafSha256: string;
}

export interface PopInput {
  readonly iat: number;
  readonly nonce: string;
  readonly signature: string;
}

/**
 * Remembers accepted PoP nonces for twice the freshness window, so one proof buys one passport.
 * Bounded: when full, the oldest entry goes. Losing an entry early only re-opens a replay that yields
 * a passport bound to the original holder key, which the replayer cannot use.
 */
class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly ttlMs: number,
    private readonly max = 50_000,
  ) {}

  /** False when the nonce was already used. */
  add(key: string, nowMs: number): boolean {
    for (const [k, exp] of this.seen) {
      if (exp > nowMs) break; // insertion order is expiry order: the rest are younger
      this.seen.delete(k);
    }
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(key, nowMs + this.ttlMs);
    return true;
  }
}

export class SvidVerifier {
  private readonly nonces: NonceCache;

  constructor(
    private readonly config: SpiffePathConfig,
    private readonly roots: readonly Cert[],
  ) {
    this.nonces = new NonceCache(config.popMaxAgeS * 2000);
  }

  static fromConfig(config: SpiffePathConfig): SvidVerifier {
    return new SvidVerifier(config, loadTrustBundle(config.bundleFile));
  }

  /** Checks 1–8 of the header comment. */
  async verifyChain(chainPem: readonly string[], nowMs: number): Promise<VerifiedSvid | Refusal> {
    const chain: Cert[] = [];
    for (const [i, pem] of chainPem.entries()) {
      const cert = parsePem(pem);
      if (!cert) return refuse('svid_malformed', `svid_chain[${i}] is not one PEM certificate that parses`);
      chain.push(cert);
    }
    const leaf = chain[0]!;

    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    const uris = san ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
    if (uris.length !== 1) return refuse('svid_uri_san_count', `the leaf has ${uris.length} URI SANs; an X.509-SVID has exactly one`);
    const spiffeId = uris[0]!;
    const id = parseSpiffeId(spiffeId);
    if (!id.ok) return refuse('svid_not_spiffe_id', `the leaf URI SAN is not a SPIFFE ID: ${id.why}`);
    if (id.path === '') return refuse('svid_not_spiffe_id', 'the leaf URI SAN is a trust domain ID; a workload SVID needs a path');
    if (id.trustDomain !== this.config.trustDomain) {
      return refuse('svid_trust_domain_mismatch', `the SPIFFE ID is in trust domain "${id.trustDomain}", not "${this.config.trustDomain}"`);
    }
    if (isCa(leaf)) return refuse('svid_leaf_is_ca', 'the leaf has basicConstraints cA=true');
    const ku = leaf.getExtension(x509.KeyUsagesExtension);
    if (!ku || (ku.usages & KU_DIGITAL_SIGNATURE) === 0) return refuse('svid_key_usage', 'the leaf key usage lacks digitalSignature');
    if ((ku.usages & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !== 0) return refuse('svid_key_usage', 'the leaf key usage allows keyCertSign or cRLSign');

    for (const [i, cert] of chain.entries()) {
      const window = outsideValidity(cert, nowMs);
      if (window) return refuse('svid_expired', `svid_chain[${i}] ${window}`);
    }

    const trusted = await this.chainToRoot(chain, nowMs);
    if (trusted !== true) return trusted;

    let leafKey: KeyObject;
    try {
      leafKey = createPublicKey({ key: Buffer.from(leaf.publicKey.rawData), format: 'der', type: 'spki' });
    } catch {
      return refuse('svid_malformed', 'the leaf public key does not parse');
    }
    return { ok: true, spiffeId, leafKey, leafSha256: b64url(sha256(Buffer.from(leaf.rawData))) };
  }

  private async chainToRoot(chain: Cert[], nowMs: number): Promise<true | Refusal> {
    // A caller may append the root itself; it adds nothing, so it is dropped when it is one we hold.
    const last = chain[chain.length - 1]!;
    const path = chain.length > 1 && this.roots.some((r) => sameBytes(r.rawData, last.rawData)) ? chain.slice(0, -1) : chain;

    for (const [i, cert] of path.entries()) {
      const critical = unknownCritical(cert);
      if (critical) return refuse('svid_chain_untrusted', `svid_chain[${i}] has a critical extension ${critical} this broker does not process`);
      if (i === 0) continue;
      const bc = cert.getExtension(x509.BasicConstraintsExtension);
      if (bc?.ca !== true) return refuse('svid_chain_untrusted', `svid_chain[${i}] is not a CA certificate`);
      const ku = cert.getExtension(x509.KeyUsagesExtension);
      if (ku && (ku.usages & KU_KEY_CERT_SIGN) === 0) return refuse('svid_chain_untrusted', `svid_chain[${i}] key usage lacks keyCertSign`);
      // pathLenConstraint counts the intermediates below this one (RFC 5280 §4.2.1.9).
      if (bc.pathLength !== undefined && i - 1 > bc.pathLength) return refuse('svid_chain_untrusted', `svid_chain[${i}] path length constraint exceeded`);
      if (!(await signedBy(path[i - 1]!, cert))) {
        return refuse('svid_chain_untrusted', `svid_chain[${i - 1}] is not signed by svid_chain[${i}]`);
      }
    }

    const top = path[path.length - 1]!;
    for (const root of this.roots) {
      if (!(await signedBy(top, root))) continue;
      const pathLen = root.getExtension(x509.BasicConstraintsExtension)?.pathLength;
      if (pathLen !== undefined && path.length - 1 > pathLen) return refuse('svid_chain_untrusted', 'the root path length constraint is exceeded');
      const window = outsideValidity(root, nowMs);
      if (window) return refuse('svid_expired', `the trust-bundle root ${window}`);
      return true;
    }
    return refuse('svid_chain_untrusted', 'the chain does not end at a root of the configured trust bundle');
  }

  /** Check 9, only for a chain `verifyChain` accepted. Records the nonce when the proof verifies. */
  verifyPossession(svid: VerifiedSvid, pop: PopInput, challenge: Omit<PopChallenge, 'iat' | 'nonce' | 'svidSha256'>, nowMs: number): true | Refusal {
    const nowS = Math.floor(nowMs / 1000);
    if (Math.abs(nowS - pop.iat) > this.config.popMaxAgeS) {
      return refuse('svid_pop_invalid', `pop.iat is more than ${this.config.popMaxAgeS}s away from the broker clock`);
    }
    const signature = fromB64url(pop.signature);
    if (!signature) return refuse('svid_pop_invalid', 'pop.signature is not base64url');
    const input = popSigningInput({ ...challenge, svidSha256: svid.leafSha256, iat: pop.iat, nonce: pop.nonce });
    if (!verifyPop(svid.leafKey, input, signature)) {
      return refuse('svid_pop_invalid', 'pop.signature does not verify with the SVID key over this request');
    }
    if (!this.nonces.add(`${svid.leafSha256}.${pop.nonce}`, nowMs)) return refuse('svid_pop_invalid', 'this proof of possession was already used');
    return true;
  }
}

function outsideValidity(cert: Cert, nowMs: number): string | undefined {
  if (nowMs < cert.notBefore.getTime()) return `is not valid before ${cert.notBefore.toISOString()}`;
  if (nowMs > cert.notAfter.getTime()) return `expired at ${cert.notAfter.toISOString()}`;
  return undefined;
}
