/**
 * The reference for the server's request reading (authz-server/src/envoy/): the translation rules of
 * docs/envoy-integration.md applied, independently of the server's code, to a CheckRequest as
 * @grpc/proto-loader decodes it from protos/ (dev/gateway/authz-client.ts). Input is treated as
 * unknown data, every level re-checked. test/authz-server/check-request.test.ts holds the server's
 * single-walk reader to this on fixtures, random requests and random bytes.
 *
 * Rules (docs/envoy-integration.md, "CheckRequest → RequestView"): request fields, else the
 * pseudo-headers; header_map (raw_value, else value; invalid UTF-8 → "!") when it has entries, else
 * the headers map; names ASCII-lower-cased, repeats joined with ","; context_extensions route, mode
 * (enforce | dry_run) and body source (filter | buffered); source address and principal; the body
 * rules (a)–(d).
 */
import type { BodyObservation, RequestView } from '../../core/src/types.js';
import { HANDLED_NAMESPACE_HEADERS, HEADER, HEADER_NAMESPACE } from '../../core/src/types.js';
import type { RequestViewSettings } from '../../authz-server/src/envoy/request-view.js';

export type ReferenceResult =
  | { readonly ok: true; readonly view: RequestView }
  | { readonly ok: false; readonly reason: 'request_malformed'; readonly detail: string };

const CONTEXT_EXTENSION = Object.freeze({
  route: 'trustplane_route',
  mode: 'trustplane_mode',
  body: 'trustplane_body',
});

const MODES = ['enforce', 'dry_run'] as const;
const BODY_SOURCES = ['filter', 'buffered'] as const;

type Obj = Record<string, unknown>;

/** `checkRequest`: what proto-loader decoded; any value is accepted. */
export function referenceRequestView(checkRequest: unknown, settings: RequestViewSettings): ReferenceResult {
  try {
    return translate(checkRequest, settings);
  } catch (err) {
    return malformed(`unreadable CheckRequest (${err instanceof Error ? err.name : typeof err})`);
  }
}

function translate(checkRequest: unknown, settings: RequestViewSettings): ReferenceResult {
  const attributes = obj(obj(checkRequest)?.['attributes']);
  if (attributes === undefined) return malformed('attributes missing');
  const http = obj(obj(attributes['request'])?.['http']);
  if (http === undefined) return malformed('attributes.request.http missing');

  const { headers, repeated, namespace } = readHeaders(http);

  const method = str(http['method']) || (headers.get(':method') ?? '');
  const path = str(http['path']) || (headers.get(':path') ?? '');
  const authority = str(http['host']) || (headers.get(':authority') ?? '');
  const scheme = str(http['scheme']) || (headers.get(':scheme') ?? '');
  const missing = [method === '' && 'method', path === '' && 'path', authority === '' && 'authority'].filter(
    (m): m is string => m !== false,
  );
  if (missing.length > 0) return malformed(`missing ${missing.join(', ')}`);

  const extensions = obj(attributes['context_extensions']);
  const routeId = ownString(extensions, CONTEXT_EXTENSION.route);
  const mode = ownString(extensions, CONTEXT_EXTENSION.mode);
  if (mode !== undefined && !isOneOf(MODES, mode)) {
    return malformed(`context_extensions.${CONTEXT_EXTENSION.mode} must be enforce or dry_run`);
  }
  const bodySource = ownString(extensions, CONTEXT_EXTENSION.body);
  if (bodySource !== undefined && !isOneOf(BODY_SOURCES, bodySource)) {
    return malformed(`context_extensions.${CONTEXT_EXTENSION.body} must be filter or buffered`);
  }

  const source = obj(attributes['source']);
  const sourceAddress = formatSocketAddress(obj(obj(source?.['address'])?.['socket_address']));
  const sourcePrincipal = str(source?.['principal']);

  const view: RequestView = {
    method,
    scheme,
    authority,
    path,
    headers,
    ...(repeated.size > 0 ? { repeatedHeaders: repeated } : {}),
    ...(namespace !== undefined ? { namespaceHeaders: namespace } : {}),
    body: observeBody(http, headers, settings, bodySource),
    ...(routeId !== undefined ? { routeId } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(sourceAddress !== undefined ? { sourceAddress } : {}),
    ...(sourcePrincipal !== '' ? { sourcePrincipal } : {}),
  };
  return { ok: true, view };
}

function readHeaders(http: Obj): { headers: Map<string, string>; repeated: Set<string>; namespace: string[] | undefined } {
  const headers = new Map<string, string>();
  const repeated = new Set<string>();
  let namespace: string[] | undefined;
  const add = (rawName: string, value: string): void => {
    if (rawName === '') return;
    const name = asciiLower(rawName);
    const previous = headers.get(name);
    if (previous === undefined) {
      headers.set(name, value);
      // Allocates only when a client sent a namespace header beyond the credentials (rare).
      if (name.startsWith(HEADER_NAMESPACE) && !HANDLED_NAMESPACE_HEADERS.has(name)) (namespace ??= []).push(name);
    } else {
      headers.set(name, `${previous},${value}`);
      repeated.add(name);
    }
  };

  const entries = obj(http['header_map'])?.['headers'];
  if (Array.isArray(entries) && entries.length > 0) {
    for (const entry of entries) {
      const e = obj(entry);
      if (e === undefined) continue;
      const raw = e['raw_value'];
      const value = raw instanceof Uint8Array && raw.length > 0 ? decodeUtf8Lossy(raw) : str(e['value']);
      add(str(e['key']), value);
    }
  } else {
    const map = obj(http['headers']);
    if (map !== undefined) {
      for (const [name, value] of Object.entries(map)) {
        if (typeof value === 'string') add(name, value);
      }
    }
  }
  return { headers, repeated, namespace };
}

function observeBody(
  http: Obj,
  headers: ReadonlyMap<string, string>,
  settings: RequestViewSettings,
  routeBodySource: 'filter' | 'buffered' | undefined,
): BodyObservation {
  const partialHeader = headers.get(HEADER.envoyPartialBody);
  const rawBody = http['raw_body'];
  const textBody = str(http['body']);
  let bytes: Uint8Array | undefined;
  if (rawBody instanceof Uint8Array && rawBody.length > 0) {
    bytes = new Uint8Array(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
  } else if (textBody !== '') {
    bytes = new TextEncoder().encode(textBody);
  } else if (partialHeader !== undefined) {
    bytes = new Uint8Array(0);
  }
  if (bytes !== undefined) {
    return { kind: 'bytes', bytes, partial: partialHeader !== undefined && partialHeader !== 'false' };
  }

  const envoyBuffers = routeBodySource === 'buffered' || (routeBodySource !== 'filter' && settings.envoyBuffersBody);
  const otherwise = envoyBuffers ? EMPTY : UNAVAILABLE;
  if (settings.bodyHeader.trusted && routeBodySource !== 'buffered') {
    const value = headers.get(asciiLower(settings.bodyHeader.name));
    if (value !== undefined) {
      const length = headers.get(HEADER.bodyLength);
      // The core uses these only on a bundle route whose body.hash_source is "filter".
      return length === undefined ? { kind: 'filter_header', value, otherwise: otherwise.kind } : { kind: 'filter_header', value, length, otherwise: otherwise.kind };
    }
  }
  return otherwise;
}

const EMPTY: BodyObservation & { kind: 'empty' } = Object.freeze({ kind: 'empty' });
const UNAVAILABLE: BodyObservation & { kind: 'unavailable' } = Object.freeze({ kind: 'unavailable' });

function formatSocketAddress(socket: Obj | undefined): string | undefined {
  const ip = str(socket?.['address']);
  if (ip === '') return undefined;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const port = socket?.['port_value'];
  return typeof port === 'number' ? `${host}:${port}` : host;
}

function malformed(detail: string): ReferenceResult {
  return { ok: false, reason: 'request_malformed', detail };
}

function obj(value: unknown): Obj | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : undefined;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** An own, non-empty string property: a map decoded from the wire is a plain object. */
function ownString(o: Obj | undefined, key: string): string | undefined {
  if (o === undefined || !Object.prototype.hasOwnProperty.call(o, key)) return undefined;
  const value = o[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isOneOf<T extends string>(allowed: readonly T[], value: string): value is T {
  return (allowed as readonly string[]).includes(value);
}

/** ASCII only: String#toLowerCase would turn U+212A KELVIN SIGN into "k" and forge a name. */
function asciiLower(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 with each byte that is not part of a valid sequence replaced by "!", as Envoy sanitises. */
function decodeUtf8Lossy(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // fall through to the byte-by-byte walk
  }
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) {
      out += '!';
      i += 1;
    } else {
      out += strictUtf8.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/** Length of the well-formed UTF-8 sequence at `i` (RFC 3629 §4), or 0. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const lead = b[i]!;
  if (lead < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) n = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3;
    if (lead === 0xe0) lo = 0xa0;
    if (lead === 0xed) hi = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4;
    if (lead === 0xf0) lo = 0x90;
    if (lead === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > b.length) return 0;
  const second = b[i + 1]!;
  if (second < lo || second > hi) return 0;
  for (let k = 2; k < n; k++) {
    const c = b[i + k]!;
    if (c < 0x80 || c > 0xbf) return 0;
  }
  return n;
}
