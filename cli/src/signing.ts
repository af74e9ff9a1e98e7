/**
 * What `sign` and `request` share: the curl-like request flags, the passport source (in
 * ./passport-source.ts: given, minted with a local issuer key, or asked of the broker; per-request
 * or reusable), and the captured-request file that `trustplane verify` reads (docs/cli.md,
 * "Captured request").
 */
import { signRequest, type SigningKey } from '../../core/src/index.js';
import { UsageError, list, str, type FlagSpec, type Parsed } from './args.js';
import { readBytes, type InputFile } from './files.js';
import type { PassportSupplier } from './passport-source.js';

export { mintOptions, passportOutput, passportSupplier, type PassportSupplier } from './passport-source.js';

export const REQUEST_FLAGS: FlagSpec = {
  passport: { type: 'string' },
  'holder-key': { type: 'string' },
  route: { type: 'string' },
  'bind-header': { type: 'list' },
  request: { type: 'string', short: 'X' },
  header: { type: 'list', short: 'H' },
  data: { type: 'string', short: 'd' },
  'data-file': { type: 'string' },
  'issuer-key': { type: 'string' },
  issuer: { type: 'string' },
  subject: { type: 'string' },
  'trust-domain': { type: 'string' },
  audience: { type: 'string' },
  'key-binding': { type: 'string' },
  lifetime: { type: 'string' },
  broker: { type: 'string' },
  'svid-chain': { type: 'string' },
  'svid-key': { type: 'string' },
  'broker-issuer': { type: 'string' },
  reusable: { type: 'boolean' },
  'passport-out': { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
};

/** The files a signing command reads: an output (`sign --capture`) may never land on one. */
export function requestInputs(p: Parsed): InputFile[] {
  const passport = str(p, 'passport');
  return [
    ['--holder-key', str(p, 'holder-key')],
    ['--issuer-key', str(p, 'issuer-key')],
    ['--data-file', str(p, 'data-file')],
    ['--passport', passport?.startsWith('@') ? passport.slice(1) : undefined],
    ['--svid-chain', str(p, 'svid-chain')],
    ['--svid-key', str(p, 'svid-key')],
  ].flatMap(([flag, path]) => (path === undefined ? [] : [{ flag: flag!, path }]));
}

export const REQUEST_USAGE = `  request:
  URL                     absolute http(s) URL; its host[:port] and path?query are what is signed
  -X, --request METHOD    default GET, or POST when a body is given
  -H, --header 'k: v'     a request header (repeatable)
  -d, --data STR          the body as a string
  --data-file FILE        the body from a file ("-" reads standard input)
  --route ID              the bundle route id the proof is for (required)
  --bind-header NAME      bind this header's value into the proof (repeatable; the route's
                          bound_headers must be among them)
  --holder-key FILE       the holder's private JWK: the key the passport's cnf names (required)
  passport, one of:
  --passport TOKEN|@FILE  a passport you already have
  --issuer-key FILE       mint one per request with a local issuer key; with --issuer URI,
                          --subject URI, --trust-domain TD, --audience AUD
                          [--key-binding CLASS (default software)] [--lifetime S (default 60)]
  --broker SOCKET         ask the broker on its Unix socket; with --audience AUD [--lifetime S]
  --reusable              with --issuer-key or --broker: one reusable passport ("reusable": true,
                          docs/transcript-v1.md §15) instead of a per-request one; the route must
                          have reusable_passport, and --lifetime stay within its max_lifetime_s
  --passport-out FILE     with --reusable: save that passport (mode 0600) for later
                          --passport @FILE; an existing FILE is refused unless --force
    and, for the SPIFFE path (attested_workload passports, docs/broker.md):
    --svid-chain FILE     the X.509-SVID, PEM: the leaf certificate first, then intermediates
    --svid-key FILE       the SVID's private key, PEM (PKCS#8, SEC1 or PKCS#1)
    --broker-issuer URI   the broker's issuer URI the proof of possession names (default: asked
                          of the broker, GET /v1/trust-entry)`;

export interface RequestSpec {
  readonly method: string;
  readonly url: URL;
  /** In the order given; names as given. */
  readonly headers: [string, string][];
  readonly body: Uint8Array;
  readonly route: string;
  readonly bindHeaders: string[];
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function requestSpec(p: Parsed): RequestSpec {
  if (p.positionals.length !== 1) {
    throw new UsageError(p.positionals.length === 0 ? 'a URL is required' : `one URL expected, got ${p.positionals.length} arguments`);
  }
  let url: URL;
  try {
    url = new URL(p.positionals[0]!);
  } catch {
    throw new UsageError(`${p.positionals[0]} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('the URL must be http:// or https://');
  const route = str(p, 'route');
  if (route === undefined) throw new UsageError('option --route is required');
  const headers = list(p, 'header').map((h): [string, string] => {
    const i = h.indexOf(':');
    const name = i < 0 ? '' : h.slice(0, i).trim();
    if (!TOKEN.test(name)) throw new UsageError(`--header "${h}" must look like "name: value"`);
    return [name, h.slice(i + 1).trim()];
  });
  const data = str(p, 'data');
  const dataFile = str(p, 'data-file');
  if (data !== undefined && dataFile !== undefined) throw new UsageError('give --data or --data-file, not both');
  const body = data !== undefined ? Buffer.from(data, 'utf8') : dataFile !== undefined ? readBytes(dataFile, '--data-file') : new Uint8Array(0);
  const given = str(p, 'request');
  if (given !== undefined && !TOKEN.test(given)) throw new UsageError(`--request ${given} is not an HTTP method`);
  const method = (given ?? (data !== undefined || dataFile !== undefined ? 'POST' : 'GET')).toUpperCase();
  return { method, url, headers, body, route, bindHeaders: list(p, 'bind-header') };
}

export interface SignedSpec {
  /** passport and proof headers */
  readonly credentials: Record<string, string>;
  /** every header the request carries, credentials last */
  readonly headers: [string, string][];
}

export async function signSpec(spec: RequestSpec, holder: SigningKey, supply: PassportSupplier): Promise<SignedSpec> {
  const passport = await supply(holder, spec.route);
  let signed;
  try {
    signed = signRequest(
      { method: spec.method, url: spec.url, headers: spec.headers, body: spec.body },
      { passport, holder, route: spec.route, bindHeaders: spec.bindHeaders },
    );
  } catch (e) {
    throw new Error(`cannot sign: ${(e as Error).message}`);
  }
  const credentials = { ...signed.headers } as Record<string, string>;
  return { credentials, headers: [...spec.headers, ...Object.entries(credentials)] };
}

/**
 * The captured-request format `trustplane verify --request` reads: the request as the verifier
 * would observe it. `path` includes the query; `headers` an object or [name, value] pairs;
 * `body_base64` absent means no body.
 */
export interface CapturedRequest {
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: Record<string, string> | [string, string][];
  readonly body_base64?: string;
  readonly body_sha256?: string;
  readonly route_id?: string;
  readonly source_principal?: string;
}

export function captureOf(spec: RequestSpec, signed: SignedSpec): CapturedRequest {
  return {
    method: spec.method,
    authority: spec.url.host,
    path: `${spec.url.pathname}${spec.url.search}`,
    headers: signed.headers,
    ...(spec.body.length > 0 ? { body_base64: Buffer.from(spec.body).toString('base64') } : {}),
    route_id: spec.route,
  };
}
