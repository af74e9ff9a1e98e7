/**
 * The translation rules: what check-request.ts read of a CheckRequest → the RequestView the engine
 * decides on. docs/envoy-integration.md states them for operators; the Envoy facts, cited F1.1 etc.,
 * are in its section "Envoy facts this repository relies on".
 *
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
 */
import { isUtf8 } from 'node:buffer';
import { HANDLED_NAMESPACE_HEADERS, HEADER, HEADER_NAMESPACE, type BodyObservation, type RequestView } from '../../../core/src/index.js';
import type { CheckAttributes } from './check-request.js';

export interface RequestViewSettings {
  /** The wasm filter's body-hash header; `trusted` only when the filter is known to run before ext_authz. */
  readonly bodyHeader: { readonly trusted: boolean; readonly name: string };
  /** Envoy is configured with `with_request_body` for the protected routes. */
  readonly envoyBuffersBody: boolean;
}

/**
 * A request the edge cannot turn into a view: the reason, one line naming the problem, and the
 * method, path and authority as far as they were read (for the deny's audit line).
 */
export interface MalformedRequest {
  readonly reason: 'request_malformed';
  readonly detail: string;
  readonly view: Partial<Pick<RequestView, 'method' | 'path' | 'authority'>>;
}

/** context_extensions keys read by the server. */
export const CONTEXT_EXTENSION = Object.freeze({
  route: 'trustplane_route',
  mode: 'trustplane_mode',
  body: 'trustplane_body',
});

export function toRequestView(a: CheckAttributes, settings: RequestViewSettings): RequestView | MalformedRequest {
  if (!a.hasAttributes) return malformed('attributes missing', {});
  if (!a.hasHttp) return malformed('attributes.request.http missing', {});

  const { headers, repeated, namespace } = readHeaders(a.listHeaders !== undefined && a.listHeaders.length > 0 ? a.listHeaders : a.mapHeaders, a.listHeaders === undefined || a.listHeaders.length === 0);

  const method = a.method || (headers.get(':method') ?? '');
  const path = a.path || (headers.get(':path') ?? '');
  const authority = a.host || (headers.get(':authority') ?? '');
  const scheme = a.scheme || (headers.get(':scheme') ?? '');
  if (method === '' || path === '' || authority === '') {
    const missing = [method === '' && 'method', path === '' && 'path', authority === '' && 'authority'].filter((m) => m !== false);
    return malformed(`missing ${missing.join(', ')}`, { method, path, authority });
  }

  const routeId = a.routeId || undefined;
  const mode = a.mode || undefined;
  if (mode !== undefined && mode !== 'enforce' && mode !== 'dry_run') {
    return malformed(`context_extensions.${CONTEXT_EXTENSION.mode} must be enforce or dry_run`, { method, path, authority });
  }
  const bodySource = a.bodySource || undefined;
  if (bodySource !== undefined && bodySource !== 'filter' && bodySource !== 'buffered') {
    return malformed(`context_extensions.${CONTEXT_EXTENSION.body} must be filter or buffered`, { method, path, authority });
  }

  const view: { -readonly [K in keyof RequestView]: RequestView[K] } = {
    method,
    scheme,
    authority,
    path,
    headers,
    body: observeBody(a.body, headers, settings, bodySource),
  };
  if (repeated !== undefined) view.repeatedHeaders = repeated;
  if (namespace !== undefined) view.namespaceHeaders = namespace;
  if (routeId !== undefined) view.routeId = routeId;
  if (mode !== undefined) view.mode = mode;
  if (a.sourceAddress !== '') {
    const host = a.sourceAddress.includes(':') ? `[${a.sourceAddress}]` : a.sourceAddress;
    view.sourceAddress = a.sourcePort === undefined ? host : `${host}:${a.sourcePort}`;
  }
  if (a.sourcePrincipal !== '') view.sourcePrincipal = a.sourcePrincipal;
  return view;
}

interface Headers {
  headers: Map<string, string>;
  repeated: Set<string> | undefined;
  namespace: string[] | undefined;
}

/**
 * [name, value, …] → the view's headers. `isMap`: the pairs are the entries of the `headers` map as
 * they arrived, where a name sent twice keeps its last value in its first place (protobuf map
 * semantics); rare, so handled only when two entries lower-case to one name.
 */
function readHeaders(pairs: readonly string[], isMap: boolean): Headers {
  const out: Headers = { headers: new Map(), repeated: undefined, namespace: undefined };
  for (let i = 0; i < pairs.length; i += 2) {
    const rawName = pairs[i]!;
    if (rawName === '') continue;
    const name = asciiLower(rawName);
    if (isMap && out.headers.has(name)) return readHeaders(dedupeMap(pairs), false);
    add(out, name, pairs[i + 1]!);
  }
  return out;
}

function add(out: Headers, name: string, value: string): void {
  const previous = out.headers.get(name);
  if (previous === undefined) {
    out.headers.set(name, value);
    // Allocates only when a client sent a namespace header beyond the credentials (rare).
    if (name.startsWith(HEADER_NAMESPACE) && !HANDLED_NAMESPACE_HEADERS.has(name)) (out.namespace ??= []).push(name);
  } else {
    out.headers.set(name, `${previous},${value}`);
    (out.repeated ??= new Set()).add(name);
  }
}

/** Map entries as protobuf reads them: one per distinct key, its last value, in its first place. */
function dedupeMap(pairs: readonly string[]): string[] {
  const entries = new Map<string, string>();
  for (let i = 0; i < pairs.length; i += 2) entries.set(pairs[i]!, pairs[i + 1]!);
  return [...entries].flat();
}

function observeBody(
  body: Uint8Array,
  headers: ReadonlyMap<string, string>,
  settings: RequestViewSettings,
  routeBodySource: 'filter' | 'buffered' | undefined,
): BodyObservation {
  const partialHeader = headers.get(HEADER.envoyPartialBody);
  if (body.length > 0 || partialHeader !== undefined) {
    return { kind: 'bytes', bytes: body, partial: partialHeader !== undefined && partialHeader !== 'false' };
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

function malformed(detail: string, read: { method?: string; path?: string; authority?: string }): MalformedRequest {
  const view: { method?: string; path?: string; authority?: string } = {};
  if (read.method) view.method = read.method;
  if (read.path) view.path = read.path;
  if (read.authority) view.authority = read.authority;
  return { reason: 'request_malformed', detail, view };
}

/** ASCII only: String#toLowerCase would turn U+212A KELVIN SIGN into "k" and forge a name. */
function asciiLower(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 with each byte that is not part of a valid sequence replaced by "!", as Envoy sanitises (F1.2). */
export function utf8Lossy(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
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
