/**
 * A throw-away SPIFFE certificate authority for tests: a root, an optional intermediate, and a leaf
 * factory whose options produce each way an X.509-SVID can be wrong (expired, other trust domain,
 * wrong URI SAN count, CA leaf, missing key usage, unknown root).
 *
 * Certificates are made with @peculiar/x509 over Node's WebCrypto, the same library the broker
 * verifies with; keys are handed back as node:crypto KeyObjects because that is what callers sign with.
 */
import { KeyObject, webcrypto } from 'node:crypto';
// The broker's configured entry point: the library needs a Reflect polyfill and a crypto provider.
import { x509 } from '../../broker/src/x509.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN_EC = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export type LeafKeyAlg = 'P-256' | 'P-384' | 'Ed25519';

export interface LeafOptions {
  /** Path of the SPIFFE ID under the CA's trust domain; ignored when `uris` is given. */
  readonly path?: string;
  /** Exact URI SAN values (zero, one or many), instead of `spiffe://<td><path>`. */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Sets basicConstraints cA=true on the leaf. */
  readonly ca?: boolean;
  /** Key usage flags; `null` leaves the extension out. Default: digitalSignature. */
  readonly keyUsage?: number | null;
  readonly keyAlg?: LeafKeyAlg;
  /** Sign the leaf with the root even when the CA has an intermediate. */
  readonly signedByRoot?: boolean;
  /** Leave the intermediate out of the returned chain. */
  readonly omitIntermediate?: boolean;
  /** Extra extensions, e.g. an unknown critical one. */
  readonly extraExtensions?: readonly x509.Extension[];
}

export interface TestSvid {
  readonly spiffeId: string;
  /** Leaf first, then the intermediate when there is one. */
  readonly chainPem: string[];
  readonly leafPem: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface TestCa {
  readonly trustDomain: string;
  readonly rootPem: string;
  readonly intermediatePem?: string;
  issueSvid(options?: LeafOptions): Promise<TestSvid>;
}

interface Authority {
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

export async function createTestCa(options: { trustDomain?: string; intermediate?: boolean; rootNotAfter?: Date } = {}): Promise<TestCa> {
  const trustDomain = options.trustDomain ?? 'example.org';
  const now = Date.now();
  const rootKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${trustDomain} test root, O=TrustPlane tests`,
    keys: rootKeys,
    notBefore: new Date(now - DAY_MS),
    notAfter: options.rootNotAfter ?? new Date(now + 30 * DAY_MS),
    signingAlgorithm: SIGN_EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const root: Authority = { cert: rootCert, keys: rootKeys };

  let intermediate: Authority | undefined;
  if (options.intermediate) {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      subject: `CN=${trustDomain} test intermediate, O=TrustPlane tests`,
      issuer: rootCert.subject,
      publicKey: keys.publicKey,
      signingKey: rootKeys.privateKey,
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 10 * DAY_MS),
      signingAlgorithm: SIGN_EC,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    intermediate = { cert, keys };
  }

  return {
    trustDomain,
    rootPem: rootCert.toString('pem'),
    ...(intermediate ? { intermediatePem: intermediate.cert.toString('pem') } : {}),
    issueSvid: (o: LeafOptions = {}) => issueLeaf(trustDomain, root, intermediate, o),
  };
}

async function issueLeaf(trustDomain: string, root: Authority, intermediate: Authority | undefined, o: LeafOptions): Promise<TestSvid> {
  const issuer = intermediate && !o.signedByRoot ? intermediate : root;
  const keyAlg = o.keyAlg ?? 'P-256';
  const genParams: webcrypto.EcKeyGenParams | webcrypto.Algorithm =
    keyAlg === 'Ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: keyAlg };
  const keys = (await webcrypto.subtle.generateKey(genParams as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spiffeId = `spiffe://${trustDomain}${o.path ?? '/ns/default/sa/orders-caller'}`;
  const uris = o.uris ?? [spiffeId];
  const names: x509.JsonGeneralName[] = [
    ...uris.map((value) => ({ type: 'url' as const, value })),
    ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  const now = Date.now();
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(o.ca ?? false, undefined, true)];
  const keyUsage = o.keyUsage === undefined ? x509.KeyUsageFlags.digitalSignature : o.keyUsage;
  if (keyUsage !== null) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  extensions.push(...(o.extraExtensions ?? []));
  const cert = await x509.X509CertificateGenerator.create({
    // SPIFFE leaves usually carry an empty or workload-neutral subject; the identity is the URI SAN.
    subject: 'O=TrustPlane tests',
    issuer: issuer.cert.subject,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + 3_600_000),
    signingAlgorithm: SIGN_EC,
    extensions,
  });
  const leafPem = cert.toString('pem');
  const chainPem = [leafPem];
  if (issuer === intermediate && !o.omitIntermediate) chainPem.push(intermediate.cert.toString('pem'));
  return {
    spiffeId: uris[0] ?? '',
    chainPem,
    leafPem,
    privateKey: KeyObject.from(keys.privateKey),
    publicKey: KeyObject.from(keys.publicKey),
  };
}
