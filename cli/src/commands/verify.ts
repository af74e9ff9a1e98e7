/**
 * `trustplane verify`: the decision engine, offline, on a captured request. The request goes through
 * the server's own CheckRequest translation (as if Envoy had sent it), against a verified bundle and
 * a fresh memory replay store, so the answer is the one a server with that bundle would give to the
 * request's first presentation.
 */
import { compileBundle, verifyBundle, verifyRequest, MemoryReplayStore, HEADER, type Identity } from '../../../core/src/server-api.js';
import { emptyAttributes, type CheckAttributes } from '../../../authz-server/src/envoy/check-request.js';
import { toRequestView, utf8Lossy } from '../../../authz-server/src/envoy/request-view.js';
import { UsageError, bool, need, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { parseIntFlag, readBytes, readJson, readSigningKeys } from '../files.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'decide a captured request offline against a bundle',
  usage: `trustplane verify --bundle FILE (--signing-keys FILE | --allow-unsigned) --request FILE
                  [--now UNIX_S] [--json]

  Verifies the bundle as a server would, then runs the decision engine on the captured request
  (docs/cli.md, "Captured request"; "trustplane sign --capture FILE" writes one) with a fresh memory
  replay store. Prints the decision and its reason code. Exit 0 allow, 1 deny or unusable bundle.
  --bundle FILE        the trustplane-bundle-v1 document
  --signing-keys FILE  bundle-signing public keys (JWKS or one JWK)
  --allow-unsigned     development only: accept a bundle without a signature
  --request FILE       the captured request (JSON; "-" reads standard input)
  --now UNIX_S         decide as of this time (default now), e.g. for a capture from earlier
  --json               print {decision, reason, http_status, route_id, identity, transcript_sha256}`,
  async run(argv, io) {
    const p = parseArgs(argv, {
      bundle: { type: 'string' },
      'signing-keys': { type: 'string' },
      'allow-unsigned': { type: 'boolean' },
      request: { type: 'string' },
      now: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const bundlePath = need(p, 'bundle');
    const requestPath = need(p, 'request');
    const keysPath = str(p, 'signing-keys');
    const allowUnsigned = bool(p, 'allow-unsigned');
    if (keysPath === undefined && !allowUnsigned) throw new UsageError('give --signing-keys FILE (or --allow-unsigned for development)');
    if (bundlePath === '-' && requestPath === '-') throw new UsageError('only one of --bundle and --request can be standard input');
    const nowS = parseIntFlag(str(p, 'now'), '--now', 0) ?? Math.floor(Date.now() / 1000);

    const checked = verifyBundle(readBytes(bundlePath, '--bundle'), {
      signingKeys: keysPath === undefined ? [] : readSigningKeys(keysPath),
      allowUnsigned,
      now: nowS,
    });
    if (!checked.ok) throw new Error(`bundle refused: ${checked.code}: ${checked.problems.join('; ')}`);
    const captured = readCaptured(requestPath);
    const view = toRequestView(captured.checkRequest, {
      bodyHeader: { trusted: captured.bodySha256, name: HEADER.bodySha256 },
      envoyBuffersBody: true,
    });
    if ('reason' in view) throw new Error(`--request ${requestPath}: ${view.detail}`);
    const decision = await verifyRequest({
      view,
      bundle: compileBundle(checked.bundle),
      // An offline check shares no replay state, so it has nothing to forget (docs/configuration.md, "Replay store").
      store: new MemoryReplayStore({ maxEntries: 16, generationStartMs: -Infinity }),
      nowMs: nowS * 1000,
    });
    const verdict = decision.reason === 'ok' ? 'allow' : 'deny';
    if (bool(p, 'json')) {
      io.out(
        `${JSON.stringify({
          decision: verdict,
          reason: decision.reason,
          http_status: decision.httpStatus,
          dry_run: decision.dryRun,
          route_id: decision.routeId ?? null,
          identity: decision.identity ? snakeIdentity(decision.identity) : null,
          transcript_sha256: decision.transcriptSha256 ?? null,
          bundle_serial: checked.bundle.serial,
        })}\n`,
      );
    } else {
      const id = decision.identity;
      io.out(
        `${verdict} ${decision.reason} (HTTP ${decision.httpStatus})${decision.routeId ? ` route ${decision.routeId}` : ''}${id ? ` subject ${id.subject} issuer ${id.issuer} key_binding ${id.keyBinding}` : ''}${decision.dryRun ? ' [route in dry_run]' : ''}\n`,
      );
    }
    return verdict === 'allow' ? 0 : 1;
  },
};

type Obj = Record<string, unknown>;

/** --json keys are snake_case in every command (docs/cli.md), as in the audit event. */
function snakeIdentity(id: Identity): Obj {
  return { issuer: id.issuer, subject: id.subject, trust_domain: id.trustDomain, key_binding: id.keyBinding, kid: id.kid, jti: id.jti, audience: id.audience };
}
const KNOWN = ['method', 'authority', 'path', 'headers', 'body_base64', 'body_sha256', 'route_id', 'source_principal'];

/** The captured request as the server reads the CheckRequest Envoy would have sent for it (header_map, raw_body). */
function readCaptured(path: string): { checkRequest: CheckAttributes; bodySha256: boolean } {
  const raw = readJson(path, '--request');
  const where = `--request ${path}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: must be a JSON object`);
  const r = raw as Obj;
  const problems: string[] = [];
  for (const k of Object.keys(r)) if (!KNOWN.includes(k)) problems.push(`unknown member "${k}"`);
  for (const k of ['method', 'authority', 'path']) if (typeof r[k] !== 'string' || r[k] === '') problems.push(`"${k}" must be a non-empty string`);
  for (const k of ['body_base64', 'body_sha256', 'route_id', 'source_principal']) if (r[k] !== undefined && typeof r[k] !== 'string') problems.push(`"${k}" must be a string`);
  if (r.body_base64 !== undefined && r.body_sha256 !== undefined) problems.push('give "body_base64" or "body_sha256", not both');
  if (typeof r.body_base64 === 'string' && !/^[A-Za-z0-9+/]*={0,2}$/.test(r.body_base64)) problems.push('"body_base64" is not base64');
  const entries: { key: string; value: string }[] = [];
  if (Array.isArray(r.headers)) {
    r.headers.forEach((h, i) => {
      if (Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string') entries.push({ key: h[0], value: h[1] });
      else problems.push(`"headers[${i}]" must be a [name, value] pair of strings`);
    });
  } else if (r.headers !== null && typeof r.headers === 'object') {
    for (const [k, v] of Object.entries(r.headers as Obj)) {
      if (typeof v === 'string') entries.push({ key: k, value: v });
      else problems.push(`"headers.${k}" must be a string`);
    }
  } else if (r.headers !== undefined) problems.push('"headers" must be an object or a list of [name, value] pairs');
  if (problems.length > 0) throw new Error(`${where}: ${problems.join('; ')}`);

  // What Envoy strips before ext_authz sees the request; a client copy of the body hash never counts.
  const stripped = new Set([HEADER.bodySha256, HEADER.envoyPartialBody, 'host']);
  const headers = entries.filter((e) => !stripped.has(e.key.toLowerCase()));
  if (typeof r.body_sha256 === 'string') headers.push({ key: HEADER.bodySha256, value: r.body_sha256 });
  const a = emptyAttributes();
  a.hasAttributes = a.hasHttp = true;
  a.method = r.method as string;
  a.host = r.authority as string;
  a.path = r.path as string;
  a.scheme = 'http';
  // Values as Envoy sends them under encode_raw_headers: UTF-8 bytes in raw_value.
  a.listHeaders = headers.flatMap((h) => [h.key, utf8Lossy(Buffer.from(h.value, 'utf8'))]);
  if (typeof r.body_base64 === 'string' && r.body_base64 !== '') {
    a.body = new Uint8Array(Buffer.from(r.body_base64, 'base64'));
    a.listHeaders.push(HEADER.envoyPartialBody, 'false');
  }
  if (typeof r.route_id === 'string') a.routeId = r.route_id;
  if (typeof r.source_principal === 'string') a.sourcePrincipal = r.source_principal;
  return {
    checkRequest: a,
    bodySha256: typeof r.body_sha256 === 'string',
  };
}
