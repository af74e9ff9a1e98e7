/**
 * A direct protobuf decoder for the CheckRequest fields the server reads. proto-loader's generic
 * deserializer decodes every field Envoy sends (destination, timestamps, metadata Structs) into
 * message objects and then copies them all again with `toObject`, for data nothing reads: about 5 %
 * of the server's CPU under load, plus the garbage. On the bench's requests it costs about twice
 * what this does (bench/request-decode.ts). This walks the wire format once and builds only what
 * translate/request-view.ts reads, in the shape proto-loader gives it (proto.ts LOADER_OPTIONS:
 * proto field names, empty string or Buffer for a missing scalar, `null` for a missing message, maps
 * as plain objects with `__proto__` an own key, bytes as Buffers), so the translator and its fixtures
 * do not depend on which decoder ran.
 *
 * Read (field numbers of protos/, which are upstream's; docs/envoy-integration.md F3):
 *   CheckRequest.attributes 1
 *   AttributeContext: source 1, request 4, context_extensions 10
 *   Peer: address 1, principal 4 → Address.socket_address 1 → SocketAddress: address 2, port_value 3
 *   Request.http 2 → HttpRequest: method 2, headers 3, path 4, host 5, scheme 6, body 11, raw_body 12,
 *     header_map 13 → HeaderMap.headers 1 → HeaderValue: key 1, value 2, raw_value 3
 * Every other field is skipped by its wire type without being looked into. Like protobufjs, a
 * message field seen twice keeps the last one (no merge), a map key seen twice keeps the last value
 * in the first key's place, and `port_value` is present only when it was on the wire (a oneof
 * member). The oneof name properties (`port_specifier`, `Address.address`) are not produced: nothing
 * reads them.
 *
 * Strings are decoded with Buffer#utf8Slice, as protobufjs does, so invalid UTF-8 becomes the same
 * U+FFFD characters; `raw_value` and `raw_body` are Buffer views of the message, as with protobufjs.
 *
 * Stricter than protobufjs (Envoy never sends any of these): a field number 0, the group wire types
 * 3 and 4 and the undefined 6 and 7, a field that protos/ declares arriving with another wire type
 * (protobufjs would read it as the declared type), a varint longer than 10 bytes, a tag, length or
 * port that does not fit in 32 bits, and a string running past the end of its message (protobufjs
 * silently cuts it). Such bytes, and truncated ones, decode to an `UndecodableCheckRequest`, which
 * toRequestView answers with `request_malformed`: a deny in a successful RPC. proto-loader threw
 * instead, and grpc-js answered a deserialisation failure with the gRPC error INTERNAL, which Envoy
 * routes through `failure_mode_allow` (docs/envoy-integration.md F2.1).
 */

/** What the decoder returns for bytes that are not a CheckRequest; `detail` names the first problem. */
export class UndecodableCheckRequest {
  constructor(readonly detail: string) {}
}

/** The CheckRequest as the server reads it. Fields not listed here are never decoded. */
export interface DecodedCheckRequest {
  attributes: DecodedAttributeContext | null;
}

export interface DecodedAttributeContext {
  source: DecodedPeer | null;
  request: DecodedRequest | null;
  context_extensions: Record<string, string>;
}

export interface DecodedPeer {
  address: DecodedAddress | null;
  principal: string;
}

/** `socket_address` is a oneof member: absent (not null) unless it was on the wire. */
export interface DecodedAddress {
  socket_address?: DecodedSocketAddress;
}

export interface DecodedSocketAddress {
  address: string;
  port_value?: number;
}

export interface DecodedRequest {
  http: DecodedHttpRequest | null;
}

export interface DecodedHttpRequest {
  method: string;
  path: string;
  host: string;
  scheme: string;
  headers: Record<string, string>;
  header_map: DecodedHeaderMap | null;
  body: string;
  raw_body: Buffer;
}

export interface DecodedHeaderMap {
  headers: DecodedHeaderValue[];
}

export interface DecodedHeaderValue {
  key: string;
  value: string;
  raw_value: Buffer;
}

/** For grpc-js `requestDeserialize`: never throws. */
export function decodeCheckRequestFast(bytes: Uint8Array): DecodedCheckRequest | UndecodableCheckRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return checkRequest(new Reader(buf as Utf8Buffer), buf.length);
  } catch (error) {
    // Anything but a WireError would be a bug here; it still must not become a gRPC error.
    return new UndecodableCheckRequest(error instanceof WireError ? error.message : 'unreadable bytes');
  }
}

// ---------------------------------------------------------------------------------------------
// Wire primitives

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class WireError extends Error {
  override readonly name = 'WireError';
}

/** Buffer#utf8Slice: what toString('utf8', start, end) calls after its argument checks, and what protobufjs uses. */
type Utf8Buffer = Buffer & { utf8Slice(start: number, end: number): string };

/** A cursor over the message. Every read is bounded by the `end` of the message being read. */
class Reader {
  pos = 0;
  constructor(readonly buf: Utf8Buffer) {}
}

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * A varint that must fit in 32 bits: a tag, a length, or the one uint32 read (`port_value`). At most
 * 5 bytes, the fifth at most 0x0f. (protobufjs would keep the low 32 bits of anything longer.)
 */
function varint32(r: Reader, end: number): number {
  const buf = r.buf;
  let pos = r.pos;
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) throw new WireError('truncated varint');
    const b = buf[pos++]!;
    if (shift === 28 && b > 0x0f) break;
    value |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      return value >>> 0;
    }
  }
  throw new WireError('varint over 32 bits');
}

/** A varint of an unread field: any value, at most 10 bytes. */
function skipVarint(r: Reader, end: number): void {
  const buf = r.buf;
  let pos = r.pos;
  for (let n = 0; n < 10; n++) {
    if (pos >= end) throw new WireError('truncated varint');
    if (buf[pos++]! < 0x80) {
      r.pos = pos;
      return;
    }
  }
  throw new WireError('varint longer than 10 bytes');
}

/** The length of a length-delimited field; its bytes must lie within the message. */
function length(r: Reader, end: number): number {
  const n = varint32(r, end);
  if (n > end - r.pos) throw new WireError('length past the end of the message');
  return n;
}

function string(r: Reader, end: number): string {
  const n = length(r, end);
  const start = r.pos;
  r.pos = start + n;
  return n === 0 ? '' : r.buf.utf8Slice(start, start + n);
}

function bytes(r: Reader, end: number): Buffer {
  const n = length(r, end);
  const start = r.pos;
  r.pos = start + n;
  return n === 0 ? EMPTY : r.buf.subarray(start, start + n);
}

/** The end of an embedded message whose length comes next. */
function messageEnd(r: Reader, end: number): number {
  const n = length(r, end);
  return r.pos + n;
}

/** Wire types of the fields protos/ declares in one message, by field number (-1: not declared). */
function declared(fields: Readonly<Record<number, number>>): Int8Array {
  const numbers = Object.keys(fields).map(Number);
  const table = new Int8Array(Math.max(...numbers) + 1).fill(-1);
  for (const n of numbers) table[n] = fields[n]!;
  return table;
}

/**
 * The next tag. Rejects field number 0, wire types other than 0, 1, 2 and 5, and a declared field
 * with a wire type other than its declared one, so no field is ever read as something it is not.
 */
function nextTag(r: Reader, end: number, fields: Int8Array): number {
  const tag = varint32(r, end);
  const field = tag >>> 3;
  const wire = tag & 7;
  if (field === 0) throw new WireError('field number 0');
  if (wire !== VARINT && wire !== LEN && wire !== I64 && wire !== I32) throw new WireError(`wire type ${wire}`);
  if (field < fields.length && fields[field] !== -1 && fields[field] !== wire) throw new WireError(`field ${field} with wire type ${wire}`);
  return tag;
}

function skip(r: Reader, wire: number, end: number): void {
  switch (wire) {
    case VARINT:
      skipVarint(r, end);
      return;
    case I64:
      if (end - r.pos < 8) throw new WireError('truncated fixed64');
      r.pos += 8;
      return;
    case LEN: {
      const n = length(r, end);
      r.pos += n;
      return;
    }
    default: // I32; nextTag let no other wire type through
      if (end - r.pos < 4) throw new WireError('truncated fixed32');
      r.pos += 4;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages (protos/envoy/service/auth/v3/*.proto, protos/envoy/config/core/v3/*.proto)

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

/** One `map<string, string>` entry (a message: key 1, value 2) into `into`. */
function mapEntry(r: Reader, end: number, into: Record<string, string>): void {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = nextTag(r, end, MAP_ENTRY);
    switch (tag >>> 3) {
      case 1:
        key = string(r, end);
        break;
      case 2:
        value = string(r, end);
        break;
      default:
        skip(r, tag & 7, end);
    }
  }
  // A plain assignment would set the object's prototype instead of adding the key.
  if (key === '__proto__') Object.defineProperty(into, key, { value, enumerable: true, configurable: true, writable: true });
  else into[key] = value;
}

function checkRequest(r: Reader, end: number): DecodedCheckRequest {
  let attributes: DecodedAttributeContext | null = null;
  while (r.pos < end) {
    const tag = nextTag(r, end, CHECK_REQUEST);
    if (tag >>> 3 === 1) attributes = attributeContext(r, messageEnd(r, end));
    else skip(r, tag & 7, end);
  }
  return { attributes };
}

function attributeContext(r: Reader, end: number): DecodedAttributeContext {
  let source: DecodedPeer | null = null;
  let request: DecodedRequest | null = null;
  const extensions: Record<string, string> = {};
  while (r.pos < end) {
    const tag = nextTag(r, end, ATTRIBUTE_CONTEXT);
    switch (tag >>> 3) {
      case 1:
        source = peer(r, messageEnd(r, end));
        break;
      case 4:
        request = requestMessage(r, messageEnd(r, end));
        break;
      case 10:
        mapEntry(r, messageEnd(r, end), extensions);
        break;
      default:
        skip(r, tag & 7, end);
    }
  }
  return { source, request, context_extensions: extensions };
}

function peer(r: Reader, end: number): DecodedPeer {
  let address: DecodedAddress | null = null;
  let principal = '';
  while (r.pos < end) {
    const tag = nextTag(r, end, PEER);
    switch (tag >>> 3) {
      case 1:
        address = addressMessage(r, messageEnd(r, end));
        break;
      case 4:
        principal = string(r, end);
        break;
      default:
        skip(r, tag & 7, end);
    }
  }
  return { address, principal };
}

function addressMessage(r: Reader, end: number): DecodedAddress {
  let socket: DecodedSocketAddress | undefined;
  while (r.pos < end) {
    const tag = nextTag(r, end, ADDRESS);
    if (tag >>> 3 === 1) socket = socketAddress(r, messageEnd(r, end));
    else skip(r, tag & 7, end);
  }
  return socket === undefined ? {} : { socket_address: socket };
}

function socketAddress(r: Reader, end: number): DecodedSocketAddress {
  let address = '';
  let port: number | undefined;
  while (r.pos < end) {
    const tag = nextTag(r, end, SOCKET_ADDRESS);
    switch (tag >>> 3) {
      case 2:
        address = string(r, end);
        break;
      case 3:
        port = varint32(r, end);
        break;
      default:
        skip(r, tag & 7, end);
    }
  }
  return port === undefined ? { address } : { address, port_value: port };
}

function requestMessage(r: Reader, end: number): DecodedRequest {
  let http: DecodedHttpRequest | null = null;
  while (r.pos < end) {
    const tag = nextTag(r, end, REQUEST);
    if (tag >>> 3 === 2) http = httpRequest(r, messageEnd(r, end));
    else skip(r, tag & 7, end);
  }
  return { http };
}

function httpRequest(r: Reader, end: number): DecodedHttpRequest {
  let method = '';
  let path = '';
  let host = '';
  let scheme = '';
  const headers: Record<string, string> = {};
  let headerMap: DecodedHeaderMap | null = null;
  let body = '';
  let rawBody: Buffer = EMPTY;
  while (r.pos < end) {
    const tag = nextTag(r, end, HTTP_REQUEST);
    switch (tag >>> 3) {
      case 2:
        method = string(r, end);
        break;
      case 3:
        mapEntry(r, messageEnd(r, end), headers);
        break;
      case 4:
        path = string(r, end);
        break;
      case 5:
        host = string(r, end);
        break;
      case 6:
        scheme = string(r, end);
        break;
      case 11:
        body = string(r, end);
        break;
      case 12:
        rawBody = bytes(r, end);
        break;
      case 13:
        headerMap = headerMapMessage(r, messageEnd(r, end));
        break;
      default:
        skip(r, tag & 7, end);
    }
  }
  return { method, path, host, scheme, headers, header_map: headerMap, body, raw_body: rawBody };
}

function headerMapMessage(r: Reader, end: number): DecodedHeaderMap {
  const headers: DecodedHeaderValue[] = [];
  while (r.pos < end) {
    const tag = nextTag(r, end, HEADER_MAP);
    if (tag >>> 3 === 1) headers.push(headerValue(r, messageEnd(r, end)));
    else skip(r, tag & 7, end);
  }
  return { headers };
}

function headerValue(r: Reader, end: number): DecodedHeaderValue {
  let key = '';
  let value = '';
  let raw: Buffer = EMPTY;
  while (r.pos < end) {
    const tag = nextTag(r, end, HEADER_VALUE);
    switch (tag >>> 3) {
      case 1:
        key = string(r, end);
        break;
      case 2:
        value = string(r, end);
        break;
      case 3:
        raw = bytes(r, end);
        break;
      default:
        skip(r, tag & 7, end);
    }
  }
  return { key, value, raw_value: raw };
}
