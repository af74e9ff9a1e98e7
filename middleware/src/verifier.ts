/**
 * An enforcement point inside a Node HTTP service (docs/middleware.md): the same engine, bundle
 * (with hot reload), replay stores, reason codes, audit events and metrics as the ext_authz server,
 * deciding on the request the service itself received instead of on a CheckRequest.
 *
 * What the verifier observes, and from where (docs/middleware.md, "What is bound"):
 * - method: `req.method`; path and query: the request target exactly as received
 *   (`req.originalUrl` under Express mounting, else `req.url`);
 * - authority: `Host` (HTTP/1.1) or `:authority` (HTTP/2). `X-Forwarded-Host` is used only when
 *   `trustForwardedHost` is set, and then only its last value, the one the nearest proxy appended:
 *   a forwarded authority is a claim by whoever sent it, so trusting it is an explicit operator
 *   choice, never a default;
 * - headers: `req.rawHeaders`, names lower-cased, each occurrence trimmed and repeated names joined
 *   with "," in arrival order — the form transcript-v1 §6.6 binds;
 * - body: every byte the service receives, read before the handler runs (at most `maxBodyBytes`;
 *   a longer body is denied `body_too_large` without reading the rest).
 */
import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { DEFAULT_ENGINE_OPTIONS, PASSPORT_CACHE_DEFAULT_MAX_ENTRIES, PASSPORT_CACHE_MAX_ENTRIES_LIMIT, VerifiedPassportCache, edgeDecision, verifyRequest, parseKeySet, createReplayStore, type CompiledBundle, type EngineOptions, type ReplayStoreConfig, type ReplayStore, type Decision, type PublicJwk, type RequestView } from '../../core/src/server-api.js';
import { AuditSink } from '../../authz-server/src/audit-sink.js';
import { BundleSource } from '../../authz-server/src/bundle-source.js';
import { ServerMetrics } from '../../authz-server/src/metrics.js';
import { denyParts } from '../../authz-server/src/envoy/check-response.js';

export interface VerifierOptions {
  readonly bundle: {
    readonly path: string;
    /** Bundle-signing public keys: a JWKS file path, or the keys themselves. */
    readonly signingKeys?: string | readonly PublicJwk[];
    /** Development only (docs/bundle.md): accept unsigned bundles. */
    readonly allowUnsigned?: boolean;
    readonly pollIntervalMs?: number;
    readonly stateFile?: string;
  };
  /** Default: the memory store (one process). Redis shares replay state across instances. */
  readonly replay?: ReplayStoreConfig;
  /** A store to use instead of `replay` (several middleware instances in one process may share one). */
  readonly store?: ReplayStore;
  readonly audit?: { readonly sink: 'none' | 'stdout' | 'file'; readonly file?: string };
  /** Clock tolerance, lifetime caps, mode, freshness windows. The passport cache is `passportCacheMaxEntries`'s, not given here. */
  readonly engine?: Partial<Omit<EngineOptions, 'passportCache'>>;
  /**
   * Bound of the verified-passport cache (docs/transcript-v1.md §15.4): a reusable passport's issuer
   * signature is verified once per bundle, not on every request. Default 10000, the server's
   * `engine.passport_cache_max_entries`; 0 turns it off. An integer from 0 to 1000000.
   */
  readonly passportCacheMaxEntries?: number;
  /** Take the authority from the last `X-Forwarded-Host` value. Off by default: see the header comment. */
  readonly trustForwardedHost?: boolean;
  /** The largest body read before a decision; larger bodies are denied `body_too_large`. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Called with anything unexpected on the request path (the request is denied `internal_error`). */
  readonly onInternalError?: (error: unknown) => void;
}

/** What a deny answers with: the ext_authz server's denied_response, as an HTTP response. */
export interface DenyResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Verdict {
  readonly decision: Decision;
  /** The bytes the handler may read: exactly what was bound. */
  readonly body: Buffer;
  /** Set when the request must not reach the handler. */
  readonly deny?: DenyResponse;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export class Verifier {
  private constructor(
    private readonly bundles: BundleSource,
    private readonly store: ReplayStore,
    private readonly ownStore: boolean,
    private readonly audit: AuditSink,
    readonly metrics: ServerMetrics,
    private readonly engine: EngineOptions,
    /** This verifier's verified-passport cache (absent when `passportCacheMaxEntries` is 0): its `size`, `hits` and `fills` show what it saved. */
    readonly passportCache: VerifiedPassportCache | undefined,
    private readonly options: VerifierOptions,
  ) {}

  static async open(options: VerifierOptions): Promise<Verifier> {
    // Checked before anything opens: a bad bound is the caller's mistake, named, with nothing to close.
    const cacheMax = options.passportCacheMaxEntries ?? PASSPORT_CACHE_DEFAULT_MAX_ENTRIES;
    if (!Number.isSafeInteger(cacheMax) || cacheMax < 0 || cacheMax > PASSPORT_CACHE_MAX_ENTRIES_LIMIT) {
      throw new TypeError(`Verifier.open passportCacheMaxEntries: must be an integer from 0 to ${PASSPORT_CACHE_MAX_ENTRIES_LIMIT}, got ${String(options.passportCacheMaxEntries)}`);
    }
    const metrics = new ServerMetrics({ processMetrics: false });
    const keys =
      typeof options.bundle.signingKeys === 'string'
        ? parseKeySet(JSON.parse(readFileSync(options.bundle.signingKeys, 'utf8')))
        : [...(options.bundle.signingKeys ?? [])];
    let source: BundleSource | undefined;
    source = await BundleSource.open({
      path: options.bundle.path,
      signingKeys: keys,
      allowUnsigned: options.bundle.allowUnsigned ?? false,
      pollIntervalMs: options.bundle.pollIntervalMs ?? 2000,
      ...(options.bundle.stateFile !== undefined ? { stateFile: options.bundle.stateFile } : {}),
      onReload: (event) => {
        if (!event.ok) return metrics.observeBundleReload('refused', event.code);
        metrics.observeBundleReload('ok');
        const b = source?.current();
        if (b) metrics.setBundle({ serial: b.serial, issuedAt: b.issuedAt, routeIds: b.routes.map((r) => r.id) });
      },
    });
    const store = options.store ?? createReplayStore(options.replay ?? { store: 'memory' }, { onError: () => metrics.replayStoreError() });
    const audit = await AuditSink.open(
      options.audit?.sink === 'file' ? { sink: 'file', file: options.audit.file! } : { sink: options.audit?.sink ?? 'none' },
      { onError: (e) => options.onInternalError?.(e) },
    );
    // One cache per verifier, never shared: it keeps one bundle generation at a time, so verifiers on
    // different bundles would empty it for each other. Set after `engine`, so nothing there replaces it.
    const { passportCache: _ignored, ...engine } = (options.engine ?? {}) as Partial<EngineOptions>;
    const passportCache = cacheMax > 0 ? new VerifiedPassportCache(cacheMax) : undefined;
    return new Verifier(source, store, options.store === undefined, audit, metrics, { ...DEFAULT_ENGINE_OPTIONS, ...engine, ...(passportCache ? { passportCache } : {}) }, passportCache, options);
  }

  /** The bundle in force (after hot reloads), if any. */
  bundle(): CompiledBundle | undefined {
    return this.bundles.current();
  }

  /** Reads the body (bounded), decides, and records the decision in metrics and the audit sink. */
  async verify(req: IncomingMessage, target: string = req.url ?? ''): Promise<Verdict> {
    const started = performance.now();
    let decision: Decision;
    let body: Buffer = Buffer.alloc(0);
    try {
      const read = await readBody(req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
      if (read === 'too_large') {
        decision = edgeDecision('body_too_large', { method: req.method ?? '', path: target }, this.engine, `body longer than maxBodyBytes ${this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES}; the rest not read`);
      } else {
        body = read;
        const view = this.view(req, target, body);
        decision =
          typeof view === 'string'
            ? edgeDecision('request_malformed', { method: req.method ?? '', path: target }, this.engine, view)
            : await verifyRequest({ view, bundle: this.bundles.current(), store: this.store, options: this.engine });
      }
    } catch (error) {
      this.metrics.internalError();
      this.options.onInternalError?.(error);
      decision = edgeDecision('internal_error', {}, this.engine, 'unexpected error in the middleware verifier (passed to onInternalError)');
    }
    this.metrics.observeDecision(decision, (performance.now() - started) / 1000);
    this.audit.write(decision.audit);
    return decision.allow ? { decision, body } : { decision, body, deny: denyResponse(decision) };
  }

  /** The request as the engine reads it, or (a string) what it lacks, the `request_malformed` detail. */
  private view(req: IncomingMessage, target: string, body: Buffer): RequestView | string {
    const headers = new Map<string, string>();
    const repeated = new Set<string>();
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = fieldValue(raw[i + 1]!).replace(/^[ \t]+|[ \t]+$/g, '');
      const prev = headers.get(name);
      if (prev === undefined) headers.set(name, value);
      else {
        headers.set(name, `${prev},${value}`);
        repeated.add(name);
      }
    }
    const forwarded = this.options.trustForwardedHost ? headers.get('x-forwarded-host')?.split(',').pop()?.trim() : undefined;
    // A trusted X-Forwarded-Host is the authority line itself, so it is bound; it is not also an
    // unbound URL-changing header (docs/bundle.md §1.2.4).
    if (forwarded) headers.delete('x-forwarded-host');
    const authority = forwarded || headers.get(':authority') || headers.get('host');
    if (!req.method) return 'no request method';
    if (!authority) return 'no Host header (nor a trusted X-Forwarded-Host)';
    if (!target) return 'no request target';
    // The credential headers are read like Envoy presents them; a repeated one is refused by the
    // parse phase (credential_duplicated) because it is in `repeatedHeaders`.
    return {
      method: req.method,
      scheme: 'encrypted' in req.socket && (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      authority,
      path: target,
      headers,
      ...(repeated.size > 0 ? { repeatedHeaders: repeated } : {}),
      body: body.length > 0 ? { kind: 'bytes', bytes: body, partial: false } : { kind: 'empty' },
      ...(req.socket.remoteAddress !== undefined ? { sourceAddress: req.socket.remoteAddress } : {}),
    };
  }

  async close(): Promise<void> {
    this.bundles.close();
    if (this.ownStore) await this.store.close();
    await this.audit.close();
  }
}

/**
 * Node's HTTP parser hands header values over as latin1: one character per byte. The transcript binds
 * the UTF-8 text of a value (transcript-v1 §6.6, as Envoy presents it), so a value with bytes above
 * 0x7F is read back as its bytes and decoded as UTF-8; an invalid sequence becomes U+FFFD and the
 * proof will not verify, as with any changed header.
 */
function fieldValue(latin1: string): string {
  return /[^\x00-\x7f]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

/** The body, or 'too_large' as soon as more than `max` bytes arrived (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  // (Buffer here is Node's default Buffer<ArrayBufferLike>.)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        req.pause();
        resolve('too_large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * The ext_authz server's deny as an HTTP response: the same builder (authz-server/src/envoy/
 * check-response.ts, denyParts) makes both, so status, reason header and JSON body cannot drift apart.
 */
export function denyResponse(decision: Decision): DenyResponse {
  const deny = denyParts(decision);
  const headers: Record<string, string> = {};
  for (const [name, value] of deny.headers) headers[name] = value;
  return { status: deny.status, headers, body: deny.body };
}
