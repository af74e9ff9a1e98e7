/**
 * Where the passport of `sign` and `request` comes from (docs/cli.md, `trustplane sign`): exactly one
 * of --passport (as given), --issuer-key (minted here) or --broker (asked of the broker, software or
 * SPIFFE path); per-request, or with --reusable one reusable passport for the whole run
 * (docs/transcript-v1.md §15), saved with --passport-out.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { BrokerRequestError, fetchTrustEntry, requestPassport, spiffePop } from '../../broker/src/client.js';
import { issuePassport, DEFAULT_PASSPORT_LIFETIME_S, readPassportClaims, isKeyBinding, type SigningKey, type KeyBinding } from '../../core/src/index.js';
import { UsageError, bool, str, type Parsed } from './args.js';
import { parseIntFlag, readPrivateKey, readText, writeOutputs, type Output } from './files.js';
import { requestInputs } from './signing.js';

/**
 * Where each request's passport comes from: exactly one of --passport, --issuer-key, --broker.
 * `reusable`: the same passport for every request of this run (a reusable one, or the one given).
 */
export interface PassportSupplier {
  (holder: SigningKey, route: string): Promise<string>;
  readonly reusable: boolean;
}

/**
 * `--passport-out FILE` as an output, for the checks a command makes before any passport is minted
 * or asked for (with its other outputs, so two of them naming one file are refused too). `--force`
 * lets it replace a file, as for every output of the command.
 */
export function passportOutput(p: Parsed): Pick<Output, 'flag' | 'path' | 'replace'>[] {
  const path = str(p, 'passport-out');
  // Standard output carries the command's own result (headers, the response): a passport there would be mixed into it.
  if (path === '-') throw new UsageError('--passport-out needs a file path, not - (sign --json prints the passport)');
  return path === undefined ? [] : [{ flag: '--passport-out', path, replace: bool(p, 'force') }];
}

export function passportSupplier(p: Parsed): PassportSupplier {
  const given = str(p, 'passport');
  const issuerKeyFile = str(p, 'issuer-key');
  const broker = str(p, 'broker');
  const chosen = [given !== undefined && '--passport', issuerKeyFile !== undefined && '--issuer-key', broker !== undefined && '--broker'].filter(Boolean);
  if (chosen.length !== 1) {
    throw new UsageError(chosen.length === 0 ? 'a passport source is required: --passport, --issuer-key or --broker' : `give one passport source, not ${chosen.join(' and ')}`);
  }
  const reusable = bool(p, 'reusable');
  const out = passportOutput(p)[0];
  // A given passport is presented as it is: --reusable cannot make it reusable, and there is nothing to save.
  if (given !== undefined && reusable) throw new UsageError('--reusable goes with --issuer-key or --broker; a --passport is presented as it is');
  if (given !== undefined && out) throw new UsageError('--passport-out saves a passport this command obtains (--issuer-key or --broker with --reusable), not a --passport');
  // A per-request passport is consumed by the request it signs: saved, it could never be used again.
  if (out && !reusable) throw new UsageError('--passport-out saves a reusable passport: give --reusable too');
  const lifetimeS = parseIntFlag(str(p, 'lifetime'), '--lifetime', 1, 3600);
  const svid = svidOptions(p, broker !== undefined);
  if (given !== undefined) {
    const token = (given.startsWith('@') ? readText(given.slice(1), '--passport') : given).trim();
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) throw new Error('--passport is not a compact JWS (header.payload.signature)');
    // Its claims are not required to read: a malformed passport is a way to see the verifier's deny.
    let claimed = false;
    try {
      claimed = readPassportClaims(token).reusable === true;
    } catch {
      // presented as it is
    }
    return Object.assign(async () => token, { reusable: claimed });
  }
  const obtain = sourceOf(p, { issuerKeyFile, broker, lifetimeS, svid, reusable });
  if (!reusable) return Object.assign(obtain, { reusable: false });
  // One reusable passport for the whole run: obtained once, checked, saved where --passport-out says.
  let held: Promise<string> | undefined;
  const from = issuerKeyFile !== undefined ? '--issuer-key' : 'the broker';
  return Object.assign(
    (holder: SigningKey, route: string) =>
      (held ??= obtain(holder, route).then((passport) => {
        // As the SDK (sdk/src/signer.ts): a per-request passport reused would be jti_replay from the second request on.
        if (claimsOf(passport, from).reusable !== true) throw new Error(`--reusable: ${from} returned a per-request passport (no "reusable": true claim)`);
        if (out) writeOutputs([{ ...out, data: `${passport}\n`, mode: 0o600 }], requestInputs(p));
        return passport;
      })),
    { reusable: true },
  );
}

function claimsOf(token: string, what: string): ReturnType<typeof readPassportClaims> {
  try {
    return readPassportClaims(token);
  } catch (e) {
    throw new Error(`${what}: the passport's claims do not read (${(e as Error).message})`);
  }
}

interface SourceSettings {
  readonly issuerKeyFile: string | undefined;
  readonly broker: string | undefined;
  readonly lifetimeS: number | undefined;
  readonly svid: ReturnType<typeof svidOptions>;
  readonly reusable: boolean;
}

/** A passport minted with --issuer-key or asked of --broker: what the SDK's `issuer` and `broker` sources do. */
function sourceOf(p: Parsed, { issuerKeyFile, broker, lifetimeS, svid, reusable }: SourceSettings): (holder: SigningKey, route: string) => Promise<string> {
  const audience = str(p, 'audience');
  if (audience === undefined) throw new UsageError(`option --audience is required with ${issuerKeyFile !== undefined ? '--issuer-key' : '--broker'}`);
  if (broker !== undefined) {
    let brokerIssuer = str(p, 'broker-issuer');
    return async (holder, route) => {
      try {
        const body: Record<string, unknown> = { audience, route, holder_jwk: holder.publicJwk, ...(lifetimeS !== undefined ? { lifetime_s: lifetimeS } : {}), ...(reusable ? { reusable: true } : {}) };
        if (svid) {
          // The same request the SDK builds for `svid` (sdk/src/signer.ts): chain plus proof of possession.
          brokerIssuer ??= (await fetchTrustEntry(broker)).issuer;
          body.svid_chain = svid.chainPem;
          body.pop = spiffePop({
            svidKey: svid.key,
            leafPem: svid.chainPem[0]!,
            brokerIssuer,
            audience,
            holderJwk: holder.publicJwk,
            route,
            ...(lifetimeS !== undefined ? { lifetimeS } : {}),
            ...(reusable ? { reusable: true } : {}),
          });
        }
        return (await requestPassport(broker, body)).passport;
      } catch (e) {
        if (e instanceof BrokerRequestError) throw new Error(`broker refused: ${e.code}: ${e.message.split('\n')[0]}${e.problems ? ` (${e.problems.join('; ')})` : ''}`);
        throw e;
      }
    };
  }
  const minted = mintOptions(p);
  const issuerKey = readPrivateKey(issuerKeyFile!, '--issuer-key');
  return async (holder) =>
    issuePassport({
      key: issuerKey,
      ...minted,
      audience,
      holder: holder.publicJwk,
      lifetimeS: lifetimeS ?? DEFAULT_PASSPORT_LIFETIME_S,
      ...(reusable ? { reusable: true } : {}),
    });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * `--svid-chain` and `--svid-key`: both or neither, with --broker only. The key must be the leaf's:
 * checked here so a mismatch is named locally instead of coming back as svid_pop_invalid.
 */
function svidOptions(p: Parsed, withBroker: boolean): { chainPem: string[]; key: KeyObject } | undefined {
  const chainFile = str(p, 'svid-chain');
  const keyFile = str(p, 'svid-key');
  if (chainFile === undefined && keyFile === undefined) {
    if (str(p, 'broker-issuer') !== undefined) throw new UsageError('--broker-issuer goes with --svid-chain and --svid-key');
    return undefined;
  }
  if (!withBroker) throw new UsageError('--svid-chain and --svid-key need --broker SOCKET (the SPIFFE path is the broker\'s)');
  if (chainFile === undefined || keyFile === undefined) throw new UsageError('give --svid-chain FILE and --svid-key FILE together');
  const chainPem = readText(chainFile, '--svid-chain').match(PEM_CERTIFICATE) ?? [];
  if (chainPem.length === 0) throw new Error(`--svid-chain ${chainFile}: no PEM CERTIFICATE block`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chainPem[0]!);
  } catch {
    throw new Error(`--svid-chain ${chainFile}: the first certificate does not parse`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readText(keyFile, '--svid-key'));
  } catch (e) {
    if ((e as Error).message.startsWith('--svid-key')) throw e;
    throw new Error(`--svid-key ${keyFile}: not a PEM private key`);
  }
  if (!leaf.checkPrivateKey(key)) throw new Error(`--svid-key ${keyFile}: not the key of the leaf certificate in --svid-chain ${chainFile}`);
  return { chainPem: chainPem.map((c) => `${c}\n`), key };
}

export function mintOptions(p: Parsed, context = ' with --issuer-key'): { issuer: string; subject: string; trustDomain: string; keyBinding: KeyBinding } {
  const need = (n: string): string => {
    const v = str(p, n);
    if (v === undefined) throw new UsageError(`option --${n} is required${context}`);
    return v;
  };
  const keyBinding = str(p, 'key-binding') ?? 'software';
  if (!isKeyBinding(keyBinding)) throw new UsageError('--key-binding must be software, remote_kms, hardware_local or attested_workload');
  const issuer = need('issuer');
  const subject = need('subject');
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(subject)) throw new UsageError('--subject must be a URI (e.g. spiffe://example.org/ns/a/sa/b)');
  return { issuer, subject, trustDomain: need('trust-domain'), keyBinding };
}
