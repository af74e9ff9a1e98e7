/** One HTTP request stream through the filter, with Envoy's header, body and trailer rules (F5.1, F5.4). */
import { MapType, envoyReply, type HeaderPairs, type LocalReply } from './abi.js';
import { ByteBuffer } from './byte-buffer.js';
import type { ProxyWasmHost } from './host.js';

/** Which filter status Envoy derived from the VM's last return value. */
export type RequestState =
  | 'idle' // nothing sent yet
  | 'stopped' // headers held (StopIteration), body callbacks run
  | 'stopped-all' // StopAll*: no body callbacks until proxy_continue_stream
  | 'buffering' // last body callback returned StopIterationAndBuffer/Watermark
  | 'streaming' // headers passed on; body goes through chunk by chunk
  | 'ended' // the whole request was passed on
  | 'replied'; // a local reply ended the request

/** One HTTP stream through the filter: drive it with sendHeaders / sendBody / sendTrailers. */
export class ProxyWasmStream {
  private headers: [string, string][];
  private trailers: [string, string][] | null = null;
  private readonly buffer = new ByteBuffer();
  /** The current body view the VM sees as HTTP_REQUEST_BODY during a body or trailers callback. */
  bodyView: ByteBuffer | null = null;
  private readonly forwarded: Uint8Array[] = [];
  private state: RequestState = 'idle';
  private headersPassedOn = false;
  private closed = false;
  /** The client finished sending (end of stream seen). */
  private bodyDone = false;
  private pendingReply: LocalReply | null = null;
  private reply: LocalReply | null = null;
  /** Set while on_log runs: request headers are readable, not writable. */
  inLogPhase = false;
  /** How many times proxy_on_request_body was called. */
  bodyCallbacks = 0;
  /** The raw value the VM returned from its last request callback. */
  lastAction: number | null = null;

  constructor(
    private readonly host: ProxyWasmHost,
    readonly contextId: number,
    headers: HeaderPairs,
  ) {
    // Envoy's codecs present every header name lower-cased (docs/envoy-integration.md F10.6).
    this.headers = headers.map(([k, v]) => [k.toLowerCase(), v]);
  }

  /** The request headers as the next filter sees them (live until they are passed on). */
  get requestHeaders(): HeaderPairs {
    return this.headers;
  }

  get requestTrailers(): HeaderPairs | null {
    return this.trailers;
  }

  /** All values of a request header, in order. */
  headerValues(name: string): string[] {
    const key = name.toLowerCase();
    return this.headers.filter(([k]) => k === key).map(([, v]) => v);
  }

  get localReply(): LocalReply | null {
    return this.reply;
  }

  /** The request headers were passed on to the next filter (ext_authz in production). */
  get continued(): boolean {
    return this.headersPassedOn;
  }

  /** The whole request (headers, body, trailers) was passed on. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  get requestState(): RequestState {
    return this.state;
  }

  /** The body bytes passed on to the next filter so far. */
  forwardedBody(): Uint8Array {
    return Buffer.concat(this.forwarded);
  }

  private get vmStopped(): boolean {
    return this.state === 'replied' || this.state === 'ended' || this.closed || this.host.failure !== null;
  }

  sendHeaders(endOfStream: boolean): void {
    if (this.state !== 'idle') throw new TypeError('sendHeaders: headers were already sent');
    if (this.failIfVmFailed()) return;
    const action = this.host.callVm(this, 'proxy_on_request_headers', this.contextId, this.headers.length, endOfStream ? 1 : 0);
    if (this.applyPendingReply(action)) return;
    // convertVmCallResultToFilterHeadersStatus (docs/envoy-integration.md F5.1, F5.4).
    if (action === 0 || action === 2) {
      this.passHeadersOn();
      this.state = endOfStream || action === 2 ? 'ended' : 'streaming';
    } else if (action === 1 && this.host.options.allowOnHeadersStopIteration) {
      this.state = 'stopped';
    } else {
      this.state = 'stopped-all';
    }
    if (endOfStream && this.state !== 'ended') this.bodyDone = true;
  }

  /** Delivers a body chunk. The emulator keeps a reference: do not write to `chunk` afterwards. */
  sendBody(chunk: Uint8Array, endOfStream: boolean): void {
    if (this.state === 'idle') throw new TypeError('sendBody: send the headers first');
    if (this.bodyDone) throw new TypeError('sendBody: the request already ended');
    if (endOfStream) this.bodyDone = true;
    if (this.state === 'replied' || this.state === 'ended' || this.closed) return;
    if (this.state === 'stopped-all') {
      // StopAll*: Envoy buffers (watermark) without calling this filter (envoy/http/filter.h).
      this.buffer.append(chunk);
      return;
    }
    if (this.failIfVmFailed()) return;
    let view: ByteBuffer;
    if (this.state === 'buffering') {
      // The previous callback buffered: the new chunk joins the buffer before the VM call, and
      // body_size is cumulative (docs/envoy-integration.md F5.4).
      this.buffer.append(chunk);
      if (this.overBufferLimit()) return;
      view = this.buffer;
    } else {
      // Headers held (StopIteration) or passed on: the VM sees just this chunk.
      view = new ByteBuffer();
      view.append(chunk);
    }
    this.bodyView = view;
    this.bodyCallbacks++;
    let action: number;
    try {
      action = this.host.callVm(this, 'proxy_on_request_body', this.contextId, view.length, endOfStream ? 1 : 0);
    } finally {
      this.bodyView = null;
    }
    if (this.applyPendingReply(action)) return;
    // convertVmCallResultToFilterDataStatus: 0 Continue, 1 StopIterationAndBuffer,
    // 2 StopIterationAndWatermark, 3 and above StopIterationNoBuffer.
    if (action === 0) {
      this.passHeadersOn();
      this.forwarded.push(...view.take());
      if (endOfStream) this.state = 'ended';
      else this.state = 'streaming';
    } else if (action === 1 || action === 2) {
      if (view !== this.buffer) this.buffer.absorb(view);
      this.state = 'buffering';
      this.overBufferLimit();
    } else if (view === this.buffer) {
      this.buffer.take();
    }
  }

  sendTrailers(trailers: HeaderPairs): void {
    if (this.state === 'idle') throw new TypeError('sendTrailers: send the headers first');
    if (this.bodyDone) throw new TypeError('sendTrailers: the request already ended');
    this.bodyDone = true;
    this.trailers = trailers.map(([k, v]) => [k.toLowerCase(), v]);
    if (this.state === 'replied' || this.closed || this.state === 'stopped-all') return;
    if (this.failIfVmFailed()) return;
    this.bodyView = this.buffer;
    let action: number;
    try {
      action = this.host.callVm(this, 'proxy_on_request_trailers', this.contextId, this.trailers.length);
    } finally {
      this.bodyView = null;
    }
    if (this.applyPendingReply(action)) return;
    if (action === 0) {
      this.passHeadersOn();
      this.forwarded.push(...this.buffer.take());
      this.state = 'ended';
    }
  }

  /** proxy_continue_stream(HTTP_REQUEST): resume a request the filter stopped. */
  resume(): void {
    if (this.state === 'replied' || this.state === 'ended') return;
    this.passHeadersOn();
    this.forwarded.push(...this.buffer.take());
    this.state = this.bodyDone ? 'ended' : 'streaming';
  }

  /** Ends the stream as Envoy does when it is destroyed: on_log, on_done, on_delete. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.host.failure === null) {
      this.inLogPhase = true;
      try {
        this.host.callVmOptional(this, 'proxy_on_log', this.contextId);
      } finally {
        this.inLogPhase = false;
      }
      this.host.callVmOptional(this, 'proxy_on_done', this.contextId);
      this.host.callVmOptional(this, 'proxy_on_delete', this.contextId);
    }
    this.host.forget(this.contextId);
  }

  // ---- used by the host functions ----

  /** The request header map if the filter may touch it now, else null (→ BAD_ARGUMENT). */
  headerMap(mapType: number, write: boolean): [string, string][] | null {
    if (mapType === MapType.RequestHeaders) {
      if (this.inLogPhase) return write ? null : this.headers;
      // Envoy clears its pointer to the request headers once they were passed on (F5.4).
      return this.headersPassedOn ? null : this.headers;
    }
    if (mapType === MapType.RequestTrailers) return this.trailers !== null && this.state !== 'ended' ? this.trailers : null;
    return null;
  }

  replaceHeaderMap(mapType: number, pairs: [string, string][]): boolean {
    if (this.headerMap(mapType, true) === null) return false;
    if (mapType === MapType.RequestHeaders) this.headers = pairs;
    else this.trailers = pairs;
    return true;
  }

  recordLocalReply(reply: LocalReply): void {
    // Envoy keeps the last one asked for and sends it after the callback returns.
    this.pendingReply = reply;
  }

  private applyPendingReply(action: number): boolean {
    this.lastAction = action;
    if (this.pendingReply === null) return false;
    this.reply = this.pendingReply;
    this.pendingReply = null;
    this.state = 'replied';
    return true;
  }

  private passHeadersOn(): void {
    this.headersPassedOn = true;
  }

  private overBufferLimit(): boolean {
    if (this.buffer.length <= this.host.options.decoderBufferLimitBytes) return false;
    // filter.h: buffering past the decoder limit sends 413 on the request path
    // (docs/envoy-integration.md F5.4).
    this.reply = envoyReply(413, 'request_payload_too_large', 'Payload Too Large');
    this.state = 'replied';
    return true;
  }

  private failIfVmFailed(): boolean {
    if (this.host.failure === null) return false;
    this.reply = envoyReply(503, 'wasm_fail_stream', '');
    this.state = 'replied';
    return true;
  }

  /** Whether the VM may still be called for this stream's request path. */
  get acceptsVmCalls(): boolean {
    return !this.vmStopped;
  }
}
