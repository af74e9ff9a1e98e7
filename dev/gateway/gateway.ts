/**
 * A development gateway: an Envoy stand-in for one machine and for tests. NOT a production proxy —
 * it serves HTTP/1.1 on loopback, has no TLS, no connection limits and no retries.
 *
 * What it does follows Envoy's behaviour as docs/envoy-integration.md records it ("Envoy facts this
 * repository relies on", cited F1.1 etc.):
 * - the HTTP connection manager: hop-by-hop headers dropped, `Host` becomes `:authority`,
 *   pseudo-headers added, `x-request-id` generated when absent, `x-forwarded-proto` set (FA);
 * - the wasm filter (per route): the compiled `.wasm` runs under the proxy-wasm host emulator with
 *   Envoy's buffering rules and `allow_on_headers_stop_iteration` (F5.4);
 * - ext_authz (per route, or disabled): the CheckRequest is built as `createHttpCheck` does (F1:
 *   lower-case names, repeated values joined with ",", `path` with its query, `x-envoy-auth-partial-body`
 *   only when a body was buffered, `raw_body` with pack_as_bytes, context_extensions, source address),
 *   sent over real gRPC, and the answer applied as `onComplete` does (F2: OK header mutations with
 *   the newest append semantics, removals except pseudo-headers and host, deny → local reply with
 *   the denied status (403 when unset), RPC error → `status_on_error` with an empty body).
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AuthorizationClientService, type CheckRequest, type CheckResponse, type HeaderValueOption } from './authz-client.js';
import { listen } from '../../service/src/ops-http.js';
import { ProxyWasmHost, type HeaderPairs } from './proxy-wasm-host.js';

export interface BufferSettings {
  readonly maxRequestBytes: number;
  readonly allowPartialMessage: boolean;
  readonly packAsBytes: boolean;
}

/**
 * How a route matches the path without its query, as Envoy's RouteMatch does (route_components.proto):
 * `prefix`, `path` (exact) or `safe_regex` (the whole path must match). Exactly one is set.
 */
export interface GatewayRoute {
  readonly prefix?: string;
  readonly path?: string;
  readonly safeRegex?: string;
  readonly methods?: readonly string[];
  /** Envoy `direct_response`: answered here, nothing else runs. */
  readonly directResponse?: { readonly status: number; readonly body: string };
  /** Run the wasm body-hash filter on this route. */
  readonly wasm: boolean;
  /** `false` disables ext_authz for the route (a public route). */
  readonly extAuthz: boolean;
  readonly contextExtensions?: Readonly<Record<string, string>>;
  /** Envoy `with_request_body` for this route. */
  readonly withRequestBody?: BufferSettings;
}

export interface GatewayOptions {
  readonly listen: string;
  /** gRPC address of the authz server. */
  readonly authz: string;
  /** Base URL of the upstream, e.g. http://127.0.0.1:8080. */
  readonly upstream: string;
  readonly routes: readonly GatewayRoute[];
  readonly wasm?: { readonly path: string; readonly configuration: object };
  /** Envoy's ext_authz `status_on_error`. */
  readonly statusOnError?: number;
  readonly timeoutMs?: number;
  /** The stream decoder buffer limit (listener per_connection_buffer_limit_bytes). */
  readonly bufferLimitBytes?: number;
  /** Hears unexpected gateway errors (answered 500). */
  readonly onError?: (error: unknown) => void;
}

export interface RunningGateway {
  readonly address: string;
  readonly url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

interface LocalReply {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

export async function startGateway(o: GatewayOptions): Promise<RunningGateway> {
  const wasm = o.wasm
    ? await ProxyWasmHost.load(o.wasm.path, o.wasm.configuration, { allowOnHeadersStopIteration: true, decoderBufferLimitBytes: o.bufferLimitBytes ?? 1024 * 1024 })
    : undefined;
  const Client = grpc.makeGenericClientConstructor(AuthorizationClientService, 'Authorization');
  const client = new Client(o.authz, grpc.credentials.createInsecure()) as unknown as {
    Check(req: CheckRequest, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CheckResponse) => void): void;
    close(): void;
  };
  const upstream = new URL(o.upstream);

  const pathMatchers = o.routes.map((r): ((path: string) => boolean) => {
    if (r.path !== undefined) return (p) => p === r.path;
    if (r.safeRegex !== undefined) {
      const re = new RegExp(`^(?:${r.safeRegex})$`);
      return (p) => re.test(p);
    }
    const prefix = r.prefix ?? '/';
    return (p) => p.startsWith(prefix);
  });
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      o.onError?.(error);
      if (!res.headersSent) reply(res, { status: 500, headers: [['content-type', 'text/plain']], body: Buffer.from('gateway error\n') });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let headers = connectionManagerHeaders(req);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const pathOnly = path.split('?')[0]!;
    const route = o.routes.find((r, i) => pathMatchers[i]!(pathOnly) && (!r.methods || r.methods.includes(method)));
    if (!route) {
      reply(res, { status: 404, headers: [['content-type', 'text/plain']], body: Buffer.from('no route\n') });
      return;
    }
    if (route.directResponse) {
      reply(res, { status: route.directResponse.status, headers: [['content-type', 'application/json']], body: Buffer.from(route.directResponse.body) });
      return;
    }
    const chunks = await readChunks(req);
    const bodyLength = chunks.reduce((n, c) => n + c.length, 0);
    let body: Uint8Array = Buffer.concat(chunks);

    if (route.wasm && wasm) {
      const stream = wasm.newStream(headers);
      try {
        stream.sendHeaders(bodyLength === 0);
        if (bodyLength > 0) {
          for (const c of chunks) if (!stream.localReply) stream.sendBody(c, false);
          if (!stream.localReply) stream.sendBody(new Uint8Array(0), true);
        }
        const local = stream.localReply;
        if (local) {
          reply(res, { status: local.status, headers: local.headers.map(([k, v]) => [k, v] as [string, string]), body: local.body });
          return;
        }
        headers = stream.requestHeaders.map(([k, v]) => [k, v] as [string, string]);
        body = stream.forwardedBody();
      } finally {
        stream.close();
      }
    }

    let responseHeadersToAdd: HeaderValueOption[] = [];
    const buffering = route.extAuthz ? route.withRequestBody : undefined;
    if (buffering && !buffering.allowPartialMessage && body.length > buffering.maxRequestBytes) {
      // F1.3: the decoder buffer limit is max_request_bytes; Envoy answers 413 and never calls
      // ext_authz.
      reply(res, { status: 413, headers: [['content-type', 'text/plain']], body: Buffer.from('Payload Too Large') });
      return;
    }
    if (route.extAuthz) {
      const check = checkRequest(req, headers, body, route);
      const outcome = await new Promise<CheckResponse | undefined>((resolve) => {
        client.Check(check, { deadline: Date.now() + (o.timeoutMs ?? 1000) }, (err, r) => resolve(err ? undefined : r));
      });
      if (!outcome) {
        // F2.5: an error is not a denial; failure_mode_allow is false here, so status_on_error with an
        // empty body.
        reply(res, { status: o.statusOnError ?? 403, headers: [], body: new Uint8Array(0) });
        return;
      }
      if (outcome.status?.code !== 0) {
        const denied = 'denied_response' in outcome ? outcome.denied_response : undefined;
        const status = denied?.status?.code && Number(denied.status.code) > 0 ? Number(denied.status.code) : 403;
        const h: [string, string][] = (denied?.headers ?? []).map((x) => [x.header.key.toLowerCase(), x.header.value ?? '']);
        reply(res, { status, headers: h, body: Buffer.from(denied?.body ?? '') });
        return;
      }
      const ok = 'ok_response' in outcome ? outcome.ok_response : undefined;
      if (ok) {
        headers = applyMutations(headers, ok.headers ?? []);
        const remove = new Set((ok.headers_to_remove ?? []).map((k) => k.toLowerCase()).filter((k) => !k.startsWith(':') && k !== 'host'));
        headers = headers.filter(([k]) => !remove.has(k));
        responseHeadersToAdd = ok.response_headers_to_add ?? [];
      }
    }
    await proxy(res, headers, body, responseHeadersToAdd);
  }

  function checkRequest(req: IncomingMessage, headers: HeaderPairs, body: Uint8Array, route: GatewayRoute): CheckRequest {
    const map: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of headers) {
      if (k === 'x-envoy-auth-partial-body') continue; // F1.2: a client copy is dropped
      map[k] = map[k] === undefined ? v : `${map[k]},${v}`;
    }
    const buffer = route.withRequestBody;
    let sentBody: Uint8Array | undefined;
    if (buffer && body.length > 0) {
      sentBody = body.length > buffer.maxRequestBytes ? body.subarray(0, buffer.maxRequestBytes) : body;
      map['x-envoy-auth-partial-body'] = body.length > sentBody.length ? 'true' : 'false';
    }
    const get = (k: string): string => map[k] ?? '';
    return {
      attributes: {
        source: { address: { socket_address: { address: req.socket.remoteAddress ?? '', port_value: req.socket.remotePort ?? 0 } } },
        destination: { address: { socket_address: { address: req.socket.localAddress ?? '', port_value: req.socket.localPort ?? 0 } } },
        request: {
          time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
          http: {
            id: BigInt(`0x${randomBytes(8).toString('hex')}`).toString(10),
            method: get(':method'),
            headers: map,
            path: get(':path'),
            host: get(':authority'),
            scheme: get(':scheme'),
            size: String(sentBody ? body.length : 0),
            protocol: 'HTTP/1.1',
            ...(sentBody ? (buffer!.packAsBytes ? { raw_body: Buffer.from(sentBody) } : { body: Buffer.from(sentBody).toString('utf8') }) : {}),
          },
        },
        context_extensions: { ...(route.contextExtensions ?? {}) },
        metadata_context: {},
      },
    } as unknown as CheckRequest;
  }

  async function proxy(res: ServerResponse, headers: HeaderPairs, body: Uint8Array, toAdd: HeaderValueOption[]): Promise<void> {
    const out: Record<string, string | string[]> = {};
    let path = '/';
    let authority = upstream.host;
    for (const [k, v] of headers) {
      if (k === ':path') path = v;
      else if (k === ':authority') authority = v;
      else if (!k.startsWith(':') && k !== 'host' && k !== 'content-length') {
        const prev = out[k];
        out[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
      }
    }
    out.host = authority;
    out['content-length'] = String(body.length);
    await new Promise<void>((resolve) => {
      const up = httpRequest({ hostname: upstream.hostname, port: upstream.port, method: headers.find(([k]) => k === ':method')?.[1] ?? 'GET', path, headers: out }, (ur) => {
        const h: [string, string][] = [];
        for (let i = 0; i < ur.rawHeaders.length; i += 2) {
          const k = ur.rawHeaders[i]!.toLowerCase();
          if (!HOP_BY_HOP.has(k) && k !== 'content-length') h.push([k, ur.rawHeaders[i + 1]!]);
        }
        const mutated = applyMutations(h, toAdd);
        readChunks(ur).then(
          (c) => {
            reply(res, { status: ur.statusCode ?? 502, headers: mutated, body: Buffer.concat(c) });
            resolve();
          },
          () => {
            reply(res, { status: 502, headers: [], body: Buffer.from('upstream reset\n') });
            resolve();
          },
        );
      });
      up.on('error', () => {
        reply(res, { status: 503, headers: [['content-type', 'text/plain']], body: Buffer.from('upstream connect error\n') });
        resolve();
      });
      up.end(body);
    });
  }

  const address = await listen(server, o.listen);
  return {
    address,
    url: `http://${address}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      client.close();
      wasm?.shutdown();
    },
  };
}

/** What Envoy's HTTP connection manager makes of an HTTP/1.1 request before any filter runs. */
export function connectionManagerHeaders(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [
    [':authority', req.headers.host ?? ''],
    [':path', req.url ?? '/'],
    [':method', req.method ?? 'GET'],
    [':scheme', 'http'],
  ];
  let requestId = false;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || k === 'host' || k === 'x-forwarded-proto') continue;
    if (k === 'x-request-id') requestId = true;
    out.push([k, req.rawHeaders[i + 1]!]);
  }
  if (!requestId) out.push(['x-request-id', randomUUID()]);
  out.push(['x-forwarded-proto', 'http']);
  return out;
}

/**
 * Header mutations with the newest Envoy semantics (F2.2): a set `append` wins (true → append to an
 * existing header only, false → set); otherwise `append_action` decides.
 */
export function applyMutations(headers: HeaderPairs, options: readonly HeaderValueOption[]): [string, string][] {
  let out: [string, string][] = headers.map(([k, v]) => [k, v] as [string, string]);
  for (const opt of options) {
    const key = opt.header.key.toLowerCase();
    const value = opt.header.value ?? '';
    const exists = out.some(([k]) => k === key);
    const set = (): void => {
      out = out.filter(([k]) => k !== key);
      out.push([key, value]);
    };
    if (opt.append !== undefined && opt.append !== null) {
      if (opt.append.value) {
        if (exists) out = out.map(([k, v]) => (k === key ? [k, `${v},${value}`] : [k, v]));
      } else set();
      continue;
    }
    switch (opt.append_action ?? 0) {
      case 0:
        out.push([key, value]);
        break;
      case 1:
        if (!exists) out.push([key, value]);
        break;
      case 2:
        set();
        break;
      case 3:
        if (exists) set();
        break;
      default:
        break;
    }
  }
  return out;
}

function reply(res: ServerResponse, r: LocalReply): void {
  const h: Record<string, string[]> = {};
  for (const [k, v] of r.headers) if (!HOP_BY_HOP.has(k) && k !== 'content-length') (h[k] ??= []).push(v);
  h['content-length'] = [String(r.body.length)];
  res.writeHead(r.status, h);
  res.end(r.body);
}

function readChunks(stream: NodeJS.ReadableStream): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(chunks));
    stream.on('error', reject);
  });
}
