// The filter: one root context per plugin configuration, one HTTP context per request stream.
//
// Flow (docs/envoy-integration.md F5.4, Envoy ≥ 1.35 with allow_on_headers_stop_iteration: true):
//   headers, end_of_stream      → hash of the empty body, replace the header, Continue.
//   headers, body follows       → Pause (StopIteration: headers held, body callbacks still run).
//   body (while paused)         → the buffer is cumulative: hash only [hashed, body_size); Pause
//                                 (StopIterationAndBuffer) until end_of_stream, then finish.
//   trailers                    → the last body call had end_of_stream=false: finish here.
//   finish                      → remove + replace the hash header and the body-length header,
//                                 Continue: the held headers and the whole buffered body go on to
//                                 ext_authz together.
// A deny here is a local reply, never a trap.

import { encode } from "./base64url";
import { Config, LENGTH_HEADER_NAME, parseConfig } from "./config";
import {
  Action,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_REQUEST_BODY,
  getBufferBytes,
  getRequestHeader,
  HostBytes,
  log,
  LogLevel,
  removeRequestHeader,
  replaceRequestHeader,
  sendLocalResponse,
  Status,
} from "./host";
import { DIGEST_BYTES, Sha256 } from "./sha256";

class Stream {
  readonly hash: Sha256 = new Sha256();
  /** Body bytes already hashed = offset of the first new byte in the cumulative buffer. */
  hashed: u64 = 0;
  /** The header was set and the request continued, or a local reply was sent. */
  done: bool = false;

  constructor(readonly config: Config | null) {}
}

// Root context id → its configuration (null until proxy_on_configure succeeds). Several plugins
// may share one VM, each with its own root context.
const roots = new Map<u32, Config | null>();
const streams = new Map<u32, Stream>();

// Scratch for the digest and its 43-character header value; only live inside finish().
const DIGEST: usize = memory.data(32);
const DIGEST_TEXT: usize = memory.data(44);
const LENGTH_TEXT: usize = memory.data(24);
const CONTENT_LENGTH: ArrayBuffer = String.UTF8.encode("content-length");
// The server enforces a route's body.max_bytes from this header when it takes the hash from the
// filter (docs/transcript-v1.md §10), so it travels with the hash and is replaced the same way.
const LENGTH_HEADER: ArrayBuffer = String.UTF8.encode(LENGTH_HEADER_NAME);
const scratch = new HostBytes();

export function onContextCreate(contextId: u32, parentId: u32): void {
  if (parentId == 0) {
    roots.set(contextId, null);
    return;
  }
  const config: Config | null = roots.has(parentId) ? roots.get(parentId) : null;
  streams.set(contextId, new Stream(config));
}

export function onConfigure(rootId: u32, size: u32): bool {
  let ptr: usize = 0;
  let length: usize = 0;
  if (size > 0) {
    const status = getBufferBytes(BUFFER_PLUGIN_CONFIGURATION, 0, <usize>size, scratch);
    if (status != Status.OK) {
      log(LogLevel.ERROR, "trustplane filter: cannot read the plugin configuration (status " + status.toString() + ")");
      return false;
    }
    ptr = scratch.ptr;
    length = scratch.size;
  }
  const result = parseConfig(ptr, length);
  scratch.release();
  const config = result.config;
  if (config === null) {
    for (let i = 0; i < result.problems.length; i++) {
      log(LogLevel.ERROR, "trustplane filter: invalid plugin configuration: " + result.problems[i]);
    }
    return false;
  }
  roots.set(rootId, config);
  if (config.logs(LogLevel.INFO)) {
    log(
      LogLevel.INFO,
      "trustplane filter: configured header=" + config.headerName + " max_body_bytes=" + config.maxBodyBytes.toString() +
        " require_passport_header=" + (config.passportHeader === null ? "null" : String.UTF8.decode(config.passportHeader!)),
    );
  }
  return true;
}

function deny(stream: Stream, status: u32, reason: string): u32 {
  stream.done = true;
  sendLocalResponse(status, "trustplane_" + reason, "{\"reason\":\"" + reason + "\"}", [
    "content-type", "application/json",
    "x-trustplane-reason", reason,
  ]);
  // Envoy stops calling the VM for this request once the local reply is sent; the action
  // returned here only has to keep the request from moving on.
  return Action.PAUSE;
}

function internalError(stream: Stream, why: string): u32 {
  log(LogLevel.ERROR, "trustplane filter: " + why);
  return deny(stream, 500, "internal_error");
}

function bodyTooLarge(stream: Stream, config: Config, size: u64): u32 {
  if (config.logs(LogLevel.INFO)) {
    log(LogLevel.INFO, "trustplane filter: body of at least " + size.toString() + " bytes exceeds max_body_bytes " +
      config.maxBodyBytes.toString());
  }
  return deny(stream, 413, "body_too_large");
}

/** Parses a Content-Length value; -1 when it is not a plain decimal (Envoy's codec polices those). */
function declaredLength(ptr: usize, size: usize): i64 {
  if (size == 0 || size > 15) return -1;
  let n: i64 = 0;
  for (let i: usize = 0; i < size; i++) {
    const c = <i64>load<u8>(ptr + i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

/** Writes `n` in decimal (no sign, no leading zero) at LENGTH_TEXT; returns the digit count. */
function writeDecimal(n: u64): usize {
  let digits: usize = 1;
  for (let rest = n / 10; rest > 0; rest /= 10) digits++;
  let v = n;
  for (let i = digits; i > 0; i--) {
    store<u8>(LENGTH_TEXT + i - 1, <u8>(0x30 + <u32>(v % 10)));
    v /= 10;
  }
  return digits;
}

function finish(stream: Stream, config: Config): u32 {
  stream.hash.finish(DIGEST);
  const length = encode(DIGEST, DIGEST_BYTES, DIGEST_TEXT);
  const lengthDigits = writeDecimal(stream.hashed);
  // proxy_replace_header_map_value is Envoy's HeaderMap::setCopy, which in builds without the
  // runtime flag http_set_copy_replace_all_headers overwrites only the FIRST copy of a repeated
  // header. Removing every copy first guarantees no client-sent value survives on any build.
  let status = removeRequestHeader(config.header);
  if (status == Status.OK) status = removeRequestHeader(LENGTH_HEADER);
  if (status == Status.OK) status = replaceRequestHeader(config.header, DIGEST_TEXT, length);
  if (status == Status.OK) status = replaceRequestHeader(LENGTH_HEADER, LENGTH_TEXT, lengthDigits);
  if (status != Status.OK) {
    // BAD_ARGUMENT here means the headers were already passed on (F5.4): the hash cannot be set.
    return internalError(stream, "cannot set the body-hash header (status " + status.toString() + ")");
  }
  stream.done = true;
  if (config.logs(LogLevel.DEBUG)) {
    log(LogLevel.DEBUG, "trustplane filter: hashed " + stream.hashed.toString() + " body bytes");
  }
  return Action.CONTINUE;
}

export function onRequestHeaders(contextId: u32, endOfStream: bool): u32 {
  if (!streams.has(contextId)) return Action.CONTINUE;
  const stream = streams.get(contextId);
  const config = stream.config;
  if (config === null) return internalError(stream, "stream created under an unconfigured root context");
  if (stream.done) return Action.CONTINUE;

  const passport = config.passportHeader;
  if (passport !== null) {
    const status = getRequestHeader(passport, scratch);
    const present = status == Status.OK && scratch.size > 0;
    scratch.release();
    // Absent or empty: the same outcome the authz server gives (passport_missing, docs/reason-codes.md).
    if (status == Status.NOT_FOUND || (status == Status.OK && !present)) {
      if (config.logs(LogLevel.DEBUG)) log(LogLevel.DEBUG, "trustplane filter: no passport header");
      return deny(stream, 401, "passport_missing");
    }
    if (status != Status.OK) return internalError(stream, "cannot read the request headers (status " + status.toString() + ")");
  }

  if (endOfStream) return finish(stream, config);

  // A declared length over the limit is refused before any byte is buffered.
  if (getRequestHeader(CONTENT_LENGTH, scratch) == Status.OK) {
    const declared = declaredLength(scratch.ptr, scratch.size);
    scratch.release();
    if (declared >= 0 && <u64>declared > config.maxBodyBytes) return bodyTooLarge(stream, config, <u64>declared);
  }
  return Action.PAUSE;
}

function absorb(stream: Stream, config: Config, bodySize: u64): u32 {
  // Paused, so `bodySize` counts every body byte buffered so far (F5.4).
  if (bodySize > config.maxBodyBytes) return bodyTooLarge(stream, config, bodySize);
  if (bodySize < stream.hashed) {
    return internalError(stream, "the request body buffer shrank while paused (" + bodySize.toString() + " < " +
      stream.hashed.toString() + ")");
  }
  const fresh = bodySize - stream.hashed;
  if (fresh == 0) return Action.PAUSE;
  const status = getBufferBytes(BUFFER_REQUEST_BODY, <usize>stream.hashed, <usize>fresh, scratch);
  if (status != Status.OK || <u64>scratch.size != fresh) {
    scratch.release();
    return internalError(stream, "cannot read the request body (status " + status.toString() + ")");
  }
  stream.hash.update(scratch.ptr, scratch.size);
  scratch.release();
  stream.hashed = bodySize;
  return Action.PAUSE;
}

export function onRequestBody(contextId: u32, bodySize: u32, endOfStream: bool): u32 {
  if (!streams.has(contextId)) return Action.CONTINUE;
  const stream = streams.get(contextId);
  const config = stream.config;
  if (config === null) return internalError(stream, "stream created under an unconfigured root context");
  if (stream.done) return Action.CONTINUE;
  const action = absorb(stream, config, <u64>bodySize);
  if (stream.done) return action;
  return endOfStream ? finish(stream, config) : Action.PAUSE;
}

export function onRequestTrailers(contextId: u32): u32 {
  if (!streams.has(contextId)) return Action.CONTINUE;
  const stream = streams.get(contextId);
  const config = stream.config;
  if (config === null) return internalError(stream, "stream created under an unconfigured root context");
  if (stream.done) return Action.CONTINUE;
  return finish(stream, config);
}

export function onDelete(contextId: u32): void {
  if (streams.has(contextId)) streams.delete(contextId);
  else if (roots.has(contextId)) roots.delete(contextId);
}
