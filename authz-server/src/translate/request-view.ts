/**
 * CheckRequest → RequestView: a pure function, the only place the server reads a CheckRequest.
 *
 * Rules (docs/envoy-integration.md states them for operators; the Envoy facts, cited F1.1 etc., are
 * in its section "Envoy facts this repository relies on"):
 * - method, path, authority, scheme: `attributes.request.http.{method,path,host,scheme}`, else the
 *   pseudo-headers `:method`, `:path`, `:authority`, `:scheme` of the header map (F1.2). `path` keeps
 *   its query: Envoy puts it there and leaves `query` empty (F1.1). A missing method, path or
 *   authority is `request_malformed`; a missing scheme is the empty string (FA: never a
 *   security input).
 * - headers: from `header_map` when it has entries (`encode_raw_headers`, F1.1: `raw_value`, else
 *   `value`), otherwise from the `headers` map. Names are ASCII-lower-cased; a name seen more than once
 *   is joined with a bare "," in arrival order, as Envoy joins the map (F1.2), and recorded in
 *   `repeatedHeaders`. Raw values that are not UTF-8 get "!" per invalid byte, Envoy's own
 *   sanitising for the map (F1.2), so both modes give the same view. Stored in a Map: `__proto__` is
 *   a legal header name (FA). Client-sent `x-trustplane-*` names other than the credentials
 *   and identity headers are listed in `namespaceHeaders`, for the allow to remove.
 * - context_extensions (F1.1, set per route in Envoy, never by a client): `trustplane_route` → routeId,
 *   `trustplane_mode` (`enforce` | `dry_run`) → mode, `trustplane_body` (`filter` | `buffered`) →
 *   the body source for the route. An empty value counts as absent; any other value is
 *   `request_malformed`, so a typo in Envoy config fails closed instead of silently changing mode.
 * - source: `source.address.socket_address` as `ip:port` (`[v6]:port`), `source.principal` (F1.1).
 * - body, first rule that applies:
 *   (a) the check carries a body (`raw_body`, else `body` as UTF-8) or `x-envoy-auth-partial-body` is
 *       present → bytes. Observed bytes always win over any header. Envoy adds that header only when it
 *       buffered, and drops client copies (F1.2, F1.3); `partial` is true unless it says `false`.
 *   (b) the filter header is trusted (server setting, and the route does not say `buffered`) and
 *       present → `filter_header` with its value and the filter's `x-trustplane-body-length` as
 *       received, even comma-joined (the core rejects anything but a digest and a decimal length),
 *       and what (c)/(d) would have given, which the core uses on a bundle route that does not say
 *       `body.hash_source: filter` (docs/bundle.md §1.2.3).
 *   (c) Envoy buffers bodies (server setting, or the route says `buffered`; a route saying `filter`
 *       turns it off) → `empty`: Envoy skips buffering only when the headers ended the stream (F1.3).
 *   (d) otherwise → `unavailable`.
 *
 * It never throws: the input is treated as unknown data, and a last-resort catch turns anything
 * unexpected into `request_malformed`. Bytes the decoder could not read arrive as an
 * `UndecodableCheckRequest` and are `request_malformed` too.
 */
import type { BodyObservation, RequestView } from '../../../core/src/types.js';
import { HANDLED_NAMESPACE_HEADERS, HEADER, HEADER_NAMESPACE } from '../../../core/src/types.js';
import { UndecodableCheckRequest } from '../request-codec.js';

export interface RequestViewSettings {
  /** The wasm filter's body-hash header; `trusted` only when the filter is known to run before ext_authz. */
  readonly bodyHeader: { readonly trusted: boolean; readonly name: string };
  /** Envoy is configured with `with_request_body` for the protected routes. */
  readonly envoyBuffersBody: boolean;
}

export type RequestViewResult =
  | { readonly ok: true; readonly view: RequestView }
  | { readonly ok: false; readonly reason: 'request_malformed'; readonly detail: string };

/** context_extensions keys read by the server. */
export const CONTEXT_EXTENSION = Object.freeze({
  route: 'trustplane_route',
  mode: 'trustplane_mode',
  body: 'trustplane_body',
});

const MODES = ['enforce', 'dry_run'] as const;
const BODY_SOURCES = ['filter', 'buffered'] as const;

type Obj = Record<string, unknown>;

/** `checkRequest` is normally what request-codec.ts decoded; any value is accepted. */
export function toRequestView(checkRequest: unknown, settings: RequestViewSettings): RequestViewResult {
  if (checkRequest instanceof UndecodableCheckRequest) return malformed(`undecodable CheckRequest (${checkRequest.detail})`);
  try {
    return translate(checkRequest, settings);
  } catch (err) {
    return malformed(`unreadable CheckRequest (${err instanceof Error ? err.name : typeof err})`);
  }
}

function translate(checkRequest: unknown, settings: RequestViewSettings): RequestViewResult {
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

function malformed(detail: string): RequestViewResult {
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
