/**
 * CheckRequest bytes → RequestView, in one walk: the fields the server reads go straight from the
 * wire into one typed structure (CheckAttributes), and request-view.ts applies the translation rules
 * to it. Nothing else is built: every other field is skipped by its wire type without being looked
 * into (a malformed `destination` or `metadata_context` costs nothing and breaks nothing).
 *
 * Read (field numbers of protos/, which are upstream's; docs/envoy-integration.md F3):
 *   CheckRequest.attributes 1
 *   AttributeContext: source 1, request 4, context_extensions 10
 *   Peer: address 1, principal 4 → Address.socket_address 1 → SocketAddress: address 2, port_value 3
 *   Request.http 2 → HttpRequest: method 2, headers 3, path 4, host 5, scheme 6, body 11, raw_body 12,
 *     header_map 13 → HeaderMap.headers 1 → HeaderValue: key 1, value 2, raw_value 3
 *
 * As protobufjs reads them: a message field seen twice keeps the last one (no merge), so each
 * message clears what it holds when it starts; a map key seen twice keeps the last value in the
 * first key's place; `port_value` counts only when it was on the wire (a oneof member); strings
 * with invalid UTF-8 read as U+FFFD. Bytes the reader refuses (wire.ts) are `request_malformed`,
 * a deny in a successful RPC, never an INTERNAL error for failure_mode_allow (docs/envoy-integration.md F2.1).
 */
import { isUtf8 } from 'node:buffer';
import type { RequestView } from '../../../core/src/index.js';
import { LEN, Reader, VARINT, WireError, declared } from './wire.js';
import { CONTEXT_EXTENSION, toRequestView, utf8Lossy, type MalformedRequest, type RequestViewSettings } from './request-view.js';

/** What the server reads of a CheckRequest, typed, before the rules of request-view.ts. */
export interface CheckAttributes {
  /** `attributes` and `attributes.request.http` were on the wire. */
  hasAttributes: boolean;
  hasHttp: boolean;
  /** HttpRequest method, path, host, scheme: empty when not on the wire. */
  method: string;
  path: string;
  host: string;
  scheme: string;
  /** HttpRequest.headers (a map) as its entries arrived: [name, value, name, value, …], repeats included. */
  mapHeaders: string[];
  /** HttpRequest.header_map entries, the same way, value from `raw_value` when it has bytes (UTF-8, "!" per invalid byte). */
  listHeaders: string[] | undefined;
  /** `raw_body`, else the bytes of `body` (the string field); empty when neither has any. */
  body: Uint8Array;
  /** context_extensions the server reads; absent when not on the wire. */
  routeId: string | undefined;
  mode: string | undefined;
  bodySource: string | undefined;
  sourceAddress: string;
  sourcePort: number | undefined;
  sourcePrincipal: string;
}

const EMPTY = new Uint8Array(0);

export function emptyAttributes(): CheckAttributes {
  return {
    hasAttributes: false, hasHttp: false, method: '', path: '', host: '', scheme: '', mapHeaders: [], listHeaders: undefined,
    body: EMPTY, routeId: undefined, mode: undefined, bodySource: undefined, sourceAddress: '', sourcePort: undefined, sourcePrincipal: '',
  };
}

/** The request message as the transport (grpc-call.ts) hands it over → the view, or `request_malformed` with what was read. Throws only on a bug. */
export function readCheckRequest(bytes: Uint8Array, settings: RequestViewSettings): RequestView | MalformedRequest {
  const a = emptyAttributes();
  try {
    const r = new Reader(bytes);
    checkRequest(r, r.buf.length, a);
  } catch (error) {
    if (!(error instanceof WireError)) throw error;
    const view: { method?: string; path?: string; authority?: string } = {};
    if (a.method !== '') view.method = a.method;
    if (a.path !== '') view.path = a.path;
    if (a.host !== '') view.authority = a.host;
    return { reason: 'request_malformed', detail: `undecodable CheckRequest (${error.message})`, view };
  }
  return toRequestView(a, settings);
}

// Wire types of the fields protos/ declares, by message (protos/envoy/service/auth/v3/*.proto,
// protos/envoy/config/core/v3/*.proto).
const CHECK_REQUEST = declared({ 1: LEN });
const ATTRIBUTE_CONTEXT = declared({ 1: LEN, 2: LEN, 4: LEN, 10: LEN, 11: LEN, 12: LEN, 13: LEN });
const PEER = declared({ 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN });
const ADDRESS = declared({ 1: LEN, 2: LEN, 3: LEN });
const SOCKET_ADDRESS = declared({ 1: VARINT, 2: LEN, 3: VARINT, 4: LEN, 5: LEN, 6: VARINT });
const REQUEST = declared({ 1: LEN, 2: LEN });
const HTTP_REQUEST = declared({ 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN, 8: LEN, 9: VARINT, 10: LEN, 11: LEN, 12: LEN, 13: LEN });
const HEADER_MAP = declared({ 1: LEN });
const HEADER_VALUE = declared({ 1: LEN, 2: LEN, 3: LEN });
const MAP_ENTRY = declared({ 1: LEN, 2: LEN });

function checkRequest(r: Reader, end: number, a: CheckAttributes): void {
  while (r.pos < end) {
    const tag = r.tag(end, CHECK_REQUEST);
    if (tag >>> 3 === 1) attributeContext(r, r.messageEnd(end), a);
    else r.skip(tag & 7, end);
  }
}

function attributeContext(r: Reader, end: number, a: CheckAttributes): void {
  a.hasAttributes = true;
  clearSocket(a);
  a.sourcePrincipal = '';
  clearHttp(a);
  a.hasHttp = false;
  a.routeId = a.mode = a.bodySource = undefined;
  while (r.pos < end) {
    const tag = r.tag(end, ATTRIBUTE_CONTEXT);
    switch (tag >>> 3) {
      case 1:
        peer(r, r.messageEnd(end), a);
        break;
      case 4:
        requestMessage(r, r.messageEnd(end), a);
        break;
      case 10:
        contextExtension(r, r.messageEnd(end), a);
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
}

/** One map entry (key 1, value 2) pushed onto `into` as key, value; either is empty when missing. */
function mapEntry(r: Reader, end: number, into: string[]): void {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.tag(end, MAP_ENTRY);
    switch (tag >>> 3) {
      case 1:
        key = r.string(end);
        break;
      case 2:
        value = r.string(end);
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  into.push(key, value);
}

const extension: string[] = [];

function contextExtension(r: Reader, end: number, a: CheckAttributes): void {
  extension.length = 0;
  mapEntry(r, end, extension);
  const key = extension[0];
  const value = extension[1]!;
  if (key === CONTEXT_EXTENSION.route) a.routeId = value;
  else if (key === CONTEXT_EXTENSION.mode) a.mode = value;
  else if (key === CONTEXT_EXTENSION.body) a.bodySource = value;
}

function clearSocket(a: CheckAttributes): void {
  a.sourceAddress = '';
  a.sourcePort = undefined;
}

function peer(r: Reader, end: number, a: CheckAttributes): void {
  clearSocket(a);
  a.sourcePrincipal = '';
  while (r.pos < end) {
    const tag = r.tag(end, PEER);
    switch (tag >>> 3) {
      case 1:
        address(r, r.messageEnd(end), a);
        break;
      case 4:
        a.sourcePrincipal = r.string(end);
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
}

function address(r: Reader, end: number, a: CheckAttributes): void {
  clearSocket(a);
  while (r.pos < end) {
    const tag = r.tag(end, ADDRESS);
    if (tag >>> 3 === 1) socketAddress(r, r.messageEnd(end), a);
    else r.skip(tag & 7, end);
  }
}

function socketAddress(r: Reader, end: number, a: CheckAttributes): void {
  clearSocket(a);
  while (r.pos < end) {
    const tag = r.tag(end, SOCKET_ADDRESS);
    switch (tag >>> 3) {
      case 2:
        a.sourceAddress = r.string(end);
        break;
      case 3:
        a.sourcePort = r.uint32(end);
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
}

function requestMessage(r: Reader, end: number, a: CheckAttributes): void {
  clearHttp(a);
  a.hasHttp = false;
  while (r.pos < end) {
    const tag = r.tag(end, REQUEST);
    if (tag >>> 3 === 2) httpRequest(r, r.messageEnd(end), a);
    else r.skip(tag & 7, end);
  }
}

function clearHttp(a: CheckAttributes): void {
  a.method = a.path = a.host = a.scheme = '';
  if (a.mapHeaders.length > 0) a.mapHeaders = [];
  a.listHeaders = undefined;
  a.body = EMPTY;
}

function httpRequest(r: Reader, end: number, a: CheckAttributes): void {
  clearHttp(a);
  a.hasHttp = true;
  let rawBody: Buffer | undefined;
  let textBody: Buffer | undefined;
  while (r.pos < end) {
    const tag = r.tag(end, HTTP_REQUEST);
    switch (tag >>> 3) {
      case 2:
        a.method = r.string(end);
        break;
      case 3:
        mapEntry(r, r.messageEnd(end), a.mapHeaders);
        break;
      case 4:
        a.path = r.string(end);
        break;
      case 5:
        a.host = r.string(end);
        break;
      case 6:
        a.scheme = r.string(end);
        break;
      case 11:
        textBody = r.bytes(end);
        break;
      case 12:
        rawBody = r.bytes(end);
        break;
      case 13:
        a.listHeaders = headerMap(r, r.messageEnd(end));
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  if (rawBody !== undefined && rawBody.length > 0) a.body = view(rawBody);
  // The string field as its bytes. Not UTF-8 (never from Envoy): as protobufjs reads the string,
  // U+FFFD for each invalid sequence, encoded back.
  else if (textBody !== undefined && textBody.length > 0) a.body = isUtf8(textBody) ? view(textBody) : utf8.encode(textBody.toString('utf8'));
}

const utf8 = new TextEncoder();

/** A plain Uint8Array over the request's bytes: the engine's body type, no copy. */
function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function headerMap(r: Reader, end: number): string[] {
  const pairs: string[] = [];
  while (r.pos < end) {
    const tag = r.tag(end, HEADER_MAP);
    if (tag >>> 3 === 1) headerValue(r, r.messageEnd(end), pairs);
    else r.skip(tag & 7, end);
  }
  return pairs;
}

function headerValue(r: Reader, end: number, pairs: string[]): void {
  let key = '';
  let value = '';
  let raw: Buffer | undefined;
  while (r.pos < end) {
    const tag = r.tag(end, HEADER_VALUE);
    switch (tag >>> 3) {
      case 1:
        key = r.string(end);
        break;
      case 2:
        value = r.string(end);
        break;
      case 3:
        raw = r.bytes(end);
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  pairs.push(key, raw !== undefined && raw.length > 0 ? utf8Lossy(raw) : value);
}
