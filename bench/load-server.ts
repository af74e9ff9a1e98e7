/**
 * Load generator for bench/server.ts, run as a SEPARATE process (child_process.fork of the compiled
 * dist/bench/load-server.js), so the server's CPU time is its own.
 *
 * It receives the signing keys over IPC, pre-signs every request before any timing (each allowed
 * check consumes its jti, so every request has its own), and runs what the parent asks:
 * - `closed`: `count` checks with `concurrency` in flight; reports wall time and outcomes;
 * - `open`: a fixed arrival rate (open loop: request i is due at t0 + i/rate whatever happened to
 *   earlier ones), reporting the latency of each check measured from its actual send and from its
 *   scheduled time (the latter includes any lag of this process's own timer loop).
 *
 * `presign` is also used in-process by bench/server.ts so both sides use identical requests.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CheckService } from '../authz-server/src/check-service.js';
import type { RequestViewSettings } from '../authz-server/src/envoy/request-view.js';
import type { CompiledBundle } from '../core/src/bundle/compile.js';
import { buildBundle, signBundle, type BundleDocument } from '../core/src/bundle/index.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../core/src/engine/options.js';
import { MemoryReplayStore } from '../core/src/replay/memory.js';
import type { Decision, PublicJwk, SigningAlg } from '../core/src/types.js';
import { generateSigningKey, importPrivateJwk, type PrivateJwk, type SigningKey } from '../core/src/keys.js';
import { issuePassport } from '../core/src/passport.js';
import { collectHeaders, signRequest } from '../core/src/sign-request.js';
import { makeCheckClient } from '../test/support/server-clients.js';
import { decodeOfficialCheckResponse, envoyCheckRequest } from '../test/support/envoy-api.js';
import { H2CheckClient, frameGrpcMessage } from './h2-check-client.js';
import { presignDpop } from './dpop-presign.js';

export const BENCH_ISSUER = 'https://issuer.bench.test';
export const BENCH_TRUST_DOMAIN = 'bench.test';
export const BENCH_AUDIENCE = 'https://payments.bench.test';
export const BENCH_SUBJECT = 'spiffe://bench.test/ns/shop/sa/checkout';
export const BENCH_ROUTE = 'payments-create';
export const BENCH_AUTHORITY = 'api.bench.test';
export const BENCH_PATH = '/v1/payments';
export const BENCH_BODY = '{"amount":100,"currency":"EUR"}';
/** The lifetime of the one reusable passport a reusable load run presents (the route's limit). */
export const BENCH_REUSABLE_LIFETIME_S = 900;
/**
 * The DPoP requests' route (bench/reusable.ts): the same method, authority, headers and body as
 * BENCH_ROUTE on a path of its own. It cannot be BENCH_ROUTE itself: that route requires
 * `content-type` bound and every part of the request bound, which a DPoP proof cannot do
 * (docs/dpop.md §5), and two routes may not share a match (docs/bundle.md §1).
 */
export const BENCH_DPOP_ROUTE = 'payments-create-dpop';
export const BENCH_DPOP_PATH = '/v1/dpop/payments';
/** The DPoP access token's lifetime: the route default (docs/bundle.md `max_passport_lifetime_s`). */
export const BENCH_DPOP_TOKEN_LIFETIME_S = 300;

/**
 * The benches' trust: fresh keys and a signed bundle holding the one bench route, on the real clock.
 * With `reusable` the route also accepts reusable passports (docs/bundle.md §1.2.6), and a second
 * route (BENCH_DPOP_ROUTE) accepts DPoP (docs/bundle.md §1.2.5), for bench/reusable.ts; without it
 * the bundle is what a build without reusable passports or proof kinds also loads (an A/B base
 * server, TRUSTPLANE_BENCH_BASE).
 */
export function benchTrust(holderAlg: SigningAlg = 'EdDSA', reusable = false): { bundleSigner: SigningKey; issuerKey: SigningKey; holder: SigningKey; doc: BundleDocument } {
  const bundleSigner = generateSigningKey('EdDSA');
  const issuerKey = generateSigningKey('EdDSA');
  const holder = generateSigningKey(holderAlg);
  const now = Math.floor(Date.now() / 1000);
  const built = buildBundle({
    serial: 1,
    issuedAt: now - 60,
    expiresAt: now + 3600,
    keys: [{ kid: issuerKey.kid, issuer: BENCH_ISSUER, trust_domain: BENCH_TRUST_DOMAIN, max_key_binding: 'software', jwk: issuerKey.publicJwk }],
    routes: [
      {
        id: BENCH_ROUTE,
        match: { methods: ['POST'], path: BENCH_PATH },
        audience: BENCH_AUDIENCE,
        allowed_sources: [{ issuer: BENCH_ISSUER, trust_domain: BENCH_TRUST_DOMAIN, subject: 'spiffe://bench.test/**' }],
        required_key_binding: 'software',
        // offline-ok (600 s): every pre-signed request is still fresh when it is sent, however many
        // the run signs up front (an A/B with many round pairs signs over 100,000 of them).
        freshness_class: 'offline-ok',
        bound_headers: ['content-type'],
        ...(reusable ? { reusable_passport: { max_lifetime_s: BENCH_REUSABLE_LIFETIME_S } } : {}),
      },
      ...(reusable
        ? [
            {
              id: BENCH_DPOP_ROUTE,
              match: { methods: ['POST'], path: BENCH_DPOP_PATH },
              audience: BENCH_AUDIENCE,
              allowed_sources: [{ issuer: BENCH_ISSUER, trust_domain: BENCH_TRUST_DOMAIN, subject: 'spiffe://bench.test/**' }],
              required_key_binding: 'software' as const,
              freshness_class: 'offline-ok' as const,
              bound_headers: [],
              proof_kinds: ['dpop'],
              min_binding: ['method' as const, 'authority' as const, 'path' as const],
            },
          ]
        : []),
    ],
  });
  if (!built.ok) throw new Error(`bench bundle invalid: ${built.problems.join('; ')}`);
  return { bundleSigner, issuerKey, holder, doc: signBundle(built.bundle, bundleSigner) };
}

/**
 * `benchTrust` written into `dir` for a server process to load: the signed bundle as bundle.json and
 * the bundle signer's public key as signing.jwks.json.
 */
export function writeBenchTrust(dir: string, holderAlg: SigningAlg = 'EdDSA', reusable = false): ReturnType<typeof benchTrust> & { bundlePath: string; jwksPath: string } {
  const trust = benchTrust(holderAlg, reusable);
  const bundlePath = join(dir, 'bundle.json');
  const jwksPath = join(dir, 'signing.jwks.json');
  writeFileSync(bundlePath, JSON.stringify(trust.doc));
  writeFileSync(jwksPath, JSON.stringify({ keys: [trust.bundleSigner.publicJwk] }));
  return { ...trust, bundlePath, jwksPath };
}

/** The request reader's settings as the server's defaults give them: no trusted body-hash header, Envoy does not buffer bodies. */
const BENCH_VIEW_SETTINGS: RequestViewSettings = Object.freeze({ bodyHeader: { trusted: false, name: 'x-trustplane-body-sha256' }, envoyBuffersBody: false });

/**
 * An in-process CheckService on `bundle` as the server runs it by default (memory store, no trusted
 * filter header); `engine` replaces the engine options (e.g. with the verified-passport cache the
 * server gives it, bench/reusable-in-process.ts).
 */
export function benchCheckService(bundle: CompiledBundle, onDecision: (decision: Decision, seconds: number) => void = () => {}, engine: EngineOptions = DEFAULT_ENGINE_OPTIONS): CheckService {
  return new CheckService({
    bundle: () => bundle,
    store: new MemoryReplayStore({ maxEntries: 1_000_000, generationStartMs: -Infinity }),
    settings: BENCH_VIEW_SETTINGS,
    engine,
    onDecision,
    // A bench decision that fails internally is a bench bug: stop rather than count it as a deny.
    onInternalError: (error) => {
      throw error;
    },
  });
}

/**
 * How long after its signing a request from `presign` is valid, with some room: passports are dated
 * one second past the clock tolerance ahead (see `presign`), so a request sent within that second is
 * denied.
 */
export const PRESIGN_VALID_AFTER_MS = 1200;

/** Waits out the rest of PRESIGN_VALID_AFTER_MS for requests whose signing finished `elapsedMs` ago (0: just now). */
export async function untilPresignedValid(elapsedMs = 0): Promise<void> {
  const waitMs = PRESIGN_VALID_AFTER_MS - elapsedMs;
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
}

export interface PresignedRequest {
  /** CheckRequest bytes as Envoy sends them (official definitions; raw_body, pack_as_bytes). */
  readonly bytes: Buffer;
  readonly passport: string;
  readonly proof: string;
  readonly transcript: Uint8Array;
}

/**
 * `count` requests, each with its own passport (unique jti, `lifetimeS` to live) and proof, on the
 * real clock; with `reusable`, all under one reusable passport (docs/transcript-v1.md §15), each
 * with its own proof.
 */
export function presign(issuerKey: SigningKey, holder: SigningKey, count: number, lifetimeS = 300, reusable = false): PresignedRequest[] {
  const out: PresignedRequest[] = [];
  const headers = { 'content-type': 'application/json' };
  let shared: string | undefined;
  for (let i = 0; i < count; i++) {
    const nowMs = Date.now();
    const passport = shared ?? issuePassport({
      key: issuerKey,
      issuer: BENCH_ISSUER,
      subject: BENCH_SUBJECT,
      audience: BENCH_AUDIENCE,
      trustDomain: BENCH_TRUST_DOMAIN,
      holder: holder.publicJwk,
      keyBinding: 'software',
      lifetimeS,
      // Dated one second past the clock tolerance ahead: the server under test started moments ago,
      // and its replay generation with it; a passport that could have been accepted before that is
      // replay_state_lost (docs/configuration.md, "Replay store"). Requests are sent only after all
      // of them are signed, seconds later, so `iat` is within the tolerance by then.
      nowMs: nowMs + 31_000,
      ...(reusable ? { reusable: true } : {}),
    });
    if (reusable) shared = passport;
    const s = signRequest(
      { method: 'POST', authority: BENCH_AUTHORITY, pathAndQuery: BENCH_PATH, headers, body: BENCH_BODY },
      { passport, holder, route: BENCH_ROUTE, bindHeaders: ['content-type'], nowMs },
    );
    const all = collectHeaders(headers);
    all.set('x-trustplane-passport', passport);
    all.set('x-trustplane-proof', s.headers['x-trustplane-proof']);
    const bytes = envoyCheckRequest({
      method: 'POST',
      scheme: 'https',
      authority: BENCH_AUTHORITY,
      path: BENCH_PATH,
      headers: [...all.entries()],
      body: BENCH_BODY,
      withRequestBody: { maxRequestBytes: 1 << 20, packAsBytes: true },
      source: { address: '10.0.0.7', port: 51234 },
      time: new Date(nowMs),
    });
    out.push({ bytes, passport, proof: s.headers['x-trustplane-proof'], transcript: s.transcript.bytes });
  }
  return out;
}

export type ToLoad =
  | {
      readonly op: 'init';
      readonly address: string;
      readonly issuerJwk: PrivateJwk;
      readonly holderJwk: PrivateJwk;
      readonly count: number;
      readonly client?: LoadClientKind;
      /** Passport lifetime, seconds (default 300). */
      readonly lifetimeS?: number;
      /** One reusable passport for every request, each with its own proof (bench/reusable.ts). */
      readonly reusable?: boolean;
      /**
       * DPoP instead of passports (bench/reusable.ts, ./dpop-presign.ts): one access token from the
       * issuer key, a fresh proof per request with a key of the holder key's algorithm, on
       * BENCH_DPOP_ROUTE. Signed only from `notBeforeMs` (engine clock): by then the server's replay
       * generation is older than the clock tolerance, as a proof dated now needs (docs/dpop.md §6).
       */
      readonly dpop?: { readonly notBeforeMs: number };
      /** grpc-timeout the h2 client sends, milliseconds (default 500, as envoy/envoy.yaml). */
      readonly timeoutMs?: number;
      /** Stamp each request with its send time (x-bench-sent-ms; bench/overload-diag.ts). */
      readonly stampSend?: boolean;
      /** HTTP/2 connections the h2 client spreads its calls over, in turn (default 1). */
      readonly connections?: number;
    }
  | { readonly op: 'closed'; readonly count: number; readonly concurrency: number; readonly reuse?: boolean }
  | { readonly op: 'target'; readonly address: string }
  /** Reconnect sending another grpc-timeout (bench/overload.ts: a timeout within the answer margin makes every check shed). */
  | { readonly op: 'timeout'; readonly address: string; readonly timeoutMs: number }
  | { readonly op: 'open'; readonly ratePerS: number; readonly count: number; readonly reuse?: boolean }
  | { readonly op: 'exit' };

/**
 * `h2` (the default): the lean Envoy-like client of h2-check-client.ts. `grpc-js`: grpc-js's client,
 * for comparison (its own cost then shows up in the latency figures).
 */
export type LoadClientKind = 'h2' | 'grpc-js';

export interface Outcomes {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
}

export type FromLoad =
  | { readonly op: 'ready'; readonly presignMs: number }
  | { readonly op: 'targeted' }
  | ({ readonly op: 'closed'; readonly wallMs: number } & Outcomes)
  | ({
      readonly op: 'open';
      readonly wallMs: number;
      readonly sentLatencyMs: number[];
      readonly scheduledLatencyMs: number[];
      /** Per check, what came back (ANSWER_KINDS). */
      readonly kinds: number[];
      /**
       * This process's own event-loop lag during the run, sampled by a 2 ms timer (how late it fired),
       * ms: a load process that lags sends late and stamps answers late, and must say so.
       */
      readonly ownLagMs: number[];
    } & Outcomes)
  | { readonly op: 'error'; readonly message: string };

/**
 * Which member of CheckResponse's `http_response` oneof is set, read off the top-level fields
 * (2 = denied_response, 3 = ok_response) without decoding anything: cheap enough to run on every
 * response as it arrives, so the load process keeps no response alive. `tallied` cross-checks it
 * against a full decode with Envoy's official definitions.
 */
function httpResponseOf(bytes: Uint8Array): 'ok_response' | 'denied_response' | 'none' {
  let pos = 0;
  let found: 'ok_response' | 'denied_response' | 'none' = 'none';
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= bytes.length) throw new Error('truncated CheckResponse');
      const b = bytes[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error('varint too long in CheckResponse');
  };
  while (pos < bytes.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const length = varint(); // not `pos += varint()`: that reads pos before varint() moves it
      pos += length;
    }
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`wire type ${wire} in CheckResponse`);
    if (tag >>> 3 === 2) found = 'denied_response';
    else if (tag >>> 3 === 3) found = 'ok_response';
  }
  if (pos !== bytes.length) throw new Error('truncated CheckResponse');
  return found;
}

/** What one check got back, as `kinds` in an open-loop answer reports it. */
export const ANSWER_KINDS = Object.freeze({ allow: 0, overloaded: 1, replay_store_unavailable: 2, other_deny: 3, error: 4 });
const OVERLOADED = Buffer.from('overloaded');
const STORE_UNAVAILABLE = Buffer.from('replay_store_unavailable');

/** A response's kind; a deny's reason is found by its bytes (the reason header value is in them). */
export function answerKind(raw: Buffer | null): number {
  if (raw === null) return ANSWER_KINDS.error;
  if (httpResponseOf(raw) === 'ok_response') return ANSWER_KINDS.allow;
  if (raw.includes(OVERLOADED)) return ANSWER_KINDS.overloaded;
  if (raw.includes(STORE_UNAVAILABLE)) return ANSWER_KINDS.replay_store_unavailable;
  return ANSWER_KINDS.other_deny;
}

/** Responses per run decoded in full with the official definitions to confirm `httpResponseOf`. */
const CROSS_CHECKED = 64;

/**
 * Outcomes of one run, counted as responses arrive. The load process must not hold per-request
 * state for the length of a run: responses, promises and closures kept until the end survive every
 * scavenge, and its garbage collector then stalls for 5-25 ms at a time, which lands in the
 * latency figures as if the server were slow (seen: bursts of late sends every second).
 */
class Tally {
  allowed = 0;
  denied = 0;
  errors = 0;
  readonly #sample: Buffer[] = [];

  add(raw: Buffer | null): void {
    if (raw === null) {
      this.errors++;
      return;
    }
    const kind = httpResponseOf(raw);
    if (kind === 'ok_response') this.allowed++;
    else this.denied++;
    if (this.#sample.length < CROSS_CHECKED) this.#sample.push(Buffer.from(raw));
  }

  /** The outcomes, after confirming the sampled responses decode to the same verdicts. */
  outcomes(): Outcomes {
    for (const raw of this.#sample) {
      const official = decodeOfficialCheckResponse(raw).http_response ?? 'none';
      if (official !== httpResponseOf(raw)) throw new Error(`a response classified as ${httpResponseOf(raw)} decodes as ${official}`);
    }
    return { allowed: this.allowed, denied: this.denied, errors: this.errors };
  }
}

/** Period of the load process's own lag probe during an open-loop run. */
const OWN_LAG_PROBE_MS = 2;

/** Collects the load process's garbage before a timed phase, when it runs with --expose-gc. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function child(): Promise<void> {
  let requests: Buffer[] = [];
  let next = 0;
  let kind: LoadClientKind = 'h2';
  let timeoutMs = 500;
  let stampSend = false;
  let connections = 1;
  let call: ((framed: Buffer) => Promise<Buffer>) | undefined;
  let close: () => void = () => {};
  const connectTo = (address: string): void => {
    close();
    if (kind === 'h2') {
      // Several connections, taken in turn, as Envoy has one per worker thread (bench/overload.ts).
      const cs = Array.from({ length: connections }, () => new H2CheckClient(address, timeoutMs, stampSend));
      let turn = 0;
      call = cs.length === 1 ? (framed) => cs[0]!.check(framed) : (framed) => cs[turn++ % cs.length]!.check(framed);
      close = () => {
        for (const c of cs) c.close();
      };
    } else {
      const c = makeCheckClient(address);
      call = (framed) => c.checkBytes(framed.subarray(5), 10_000);
      close = () => c.close();
    }
  };
  const send = (m: FromLoad): void => void process.send!(m);
  const take = (): Buffer => {
    const r = requests[next++];
    if (r === undefined) throw new Error('ran out of pre-signed requests');
    return r;
  };

  process.on('message', (m: ToLoad) => {
    void (async () => {
      try {
        if (m.op === 'init') {
          // The wait is not signing time: `presignMs` starts after it.
          const waitMs = m.dpop === undefined ? 0 : m.dpop.notBeforeMs - Date.now();
          if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
          const t0 = performance.now();
          if (m.dpop !== undefined) {
            const signed = await presignDpop({
              issuerKey: importPrivateJwk(m.issuerJwk),
              issuer: BENCH_ISSUER,
              subject: BENCH_SUBJECT,
              audience: BENCH_AUDIENCE,
              proofAlg: importPrivateJwk(m.holderJwk).alg,
              authority: BENCH_AUTHORITY,
              path: BENCH_DPOP_PATH,
              headers: { 'content-type': 'application/json' },
              body: BENCH_BODY,
              count: m.count,
              lifetimeS: BENCH_DPOP_TOKEN_LIFETIME_S,
            });
            requests = signed.map((bytes) => frameGrpcMessage(bytes));
          } else {
            requests = presign(importPrivateJwk(m.issuerJwk), importPrivateJwk(m.holderJwk), m.count, m.lifetimeS, m.reusable).map((r) => frameGrpcMessage(r.bytes));
          }
          next = 0;
          kind = m.client ?? 'h2';
          timeoutMs = m.timeoutMs ?? 500;
          stampSend = m.stampSend ?? false;
          connections = m.connections ?? 1;
          connectTo(m.address);
          send({ op: 'ready', presignMs: performance.now() - t0 });
        } else if (m.op === 'target') {
          connectTo(m.address);
          send({ op: 'targeted' });
        } else if (m.op === 'timeout') {
          timeoutMs = m.timeoutMs;
          connectTo(m.address);
          send({ op: 'targeted' });
        } else if (m.op === 'closed') {
          const tally = new Tally();
          let left = m.count;
          // `reuse`: cycle over the requests already sent (for the no-op transport server only).
          let cycle = 0;
          const nextBytes = (): Buffer => (m.reuse ? requests[cycle++ % Math.max(1, next)]! : take());
          collectGarbage();
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: m.concurrency }, async () => {
              while (left > 0) {
                left--;
                tally.add(await call!(nextBytes()).catch(() => null));
              }
            }),
          );
          const wallMs = performance.now() - t0;
          send({ op: 'closed', wallMs, ...tally.outcomes() });
        } else if (m.op === 'open') {
          const tally = new Tally();
          const sentLatency = new Float64Array(m.count);
          const scheduledLatency = new Float64Array(m.count);
          const kinds = new Uint8Array(m.count);
          const intervalMs = 1000 / m.ratePerS;
          // `reuse`: cycle over the requests already sent (for the no-op transport server only).
          const batch = Array.from({ length: m.count }, (_, k) => (m.reuse ? requests[k % Math.max(1, next)]! : take()));
          let done = 0;
          let allDone: () => void = () => {};
          const finished = new Promise<void>((resolve) => (allDone = resolve));
          const one = (k: number, due: number): void => {
            const sent = performance.now();
            const stamp = (raw: Buffer | null): void => {
              const at = performance.now();
              sentLatency[k] = at - sent;
              scheduledLatency[k] = at - due;
              kinds[k] = answerKind(raw);
              tally.add(raw);
              if (++done === m.count) allDone();
            };
            call!(batch[k]!).then(stamp, () => stamp(null));
          };
          collectGarbage();
          const ownLag: number[] = [];
          let probeDue = performance.now() + OWN_LAG_PROBE_MS;
          const probe = setInterval(() => {
            const now = performance.now();
            ownLag.push(now - probeDue);
            probeDue = now + OWN_LAG_PROBE_MS;
          }, OWN_LAG_PROBE_MS);
          const t0 = performance.now() + 20;
          let i = 0;
          await new Promise<void>((resolve) => {
            const tick = (): void => {
              const now = performance.now();
              while (i < m.count && t0 + i * intervalMs <= now) {
                one(i, t0 + i * intervalMs);
                i++;
              }
              // A 1 ms timer, not a setImmediate spin: a spinning load process would take a core from
              // the server on this 2-core machine and distort the very latency it measures.
              if (i < m.count) setTimeout(tick, Math.max(0, Math.min(1, t0 + i * intervalMs - performance.now())));
              else resolve();
            };
            tick();
          });
          await finished;
          const wallMs = performance.now() - t0;
          clearInterval(probe);
          send({ op: 'open', wallMs, sentLatencyMs: [...sentLatency], scheduledLatencyMs: [...scheduledLatency], kinds: [...kinds], ownLagMs: ownLag, ...tally.outcomes() });
        } else if (m.op === 'exit') {
          close();
          process.disconnect();
        }
      } catch (error) {
        send({ op: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
}

/**
 * The transport floor: the real server's gRPC transport (authz-server/src/envoy/grpc-transport.ts)
 * and edge (authz-server/src/envoy/), whose Check reads the request and writes a fixed allow without
 * deciding. Its CPU per call is what gRPC, HTTP/2 and protobuf cost before any TrustPlane work.
 */
const NOOP_DECISION = {
  allow: true,
  reason: 'ok',
  httpStatus: 200,
  grpcStatus: 0,
  decisionId: '00000000-0000-4000-8000-000000000000',
  dryRun: false,
  routeId: 'checkout',
  identity: { issuer: 'https://issuer.bench.test', subject: 'spiffe://bench.test/ns/shop/sa/checkout', trustDomain: 'bench.test', keyBinding: 'software', kid: 'k', jti: 'j', audience: 'a' },
} as unknown as Decision;

/** A denial the lower-bound server answers when a passport does not verify: the run then fails its allowed count. */
const LOWER_BOUND_DENIAL = { ...NOOP_DECISION, allow: false, reason: 'signature_invalid', identity: undefined } as unknown as Decision;

async function noopServer(): Promise<void> {
  await serveCheck(() => true);
}

/**
 * The lower bound of any Check server on this stack: the no-op above plus the two signature
 * verifications a check needs, and nothing else (no request view, policy, transcript, replay store,
 * audit line, metrics or decision-specific response). A real server does all of this too, so its
 * CPU per check and its latency cannot be lower than this one's; bench/server.ts prints both.
 *
 * The passport is verified by the issuer key and must verify: otherwise the answer is a denial,
 * and bench/server.ts refuses a run with any. The proof's signature is verified by the holder key
 * over the proof's own parameter bytes, because the transcript it really signs is rebuilt from the
 * request by the engine, which is exactly the work left out here. That check fails, and an Ed25519
 * verification does the same work whether or not the signature matches (measured here: 112.4
 * against 113.0 µs), so the cost is the one a valid proof costs.
 * The public keys arrive in the environment (TRUSTPLANE_BENCH_KEYS: {issuer, holder} public JWKs).
 */
async function verifyOnlyServer(): Promise<void> {
  const { parseCompact } = await import('../core/src/jws.js');
  const { importPublicJwk, verifyBytes } = await import('../core/src/keys.js');
  const keys = JSON.parse(process.env['TRUSTPLANE_BENCH_KEYS'] ?? '{}') as { issuer: PublicJwk; holder: PublicJwk };
  const issuer = importPublicJwk(keys.issuer);
  const holder = importPublicJwk(keys.holder);
  await serveCheck((headers) => {
    const passport = parseCompact(headers.get('x-trustplane-passport') ?? '');
    const proof = headers.get('x-trustplane-proof') ?? '';
    const dot = proof.lastIndexOf('.');
    const passportOk = passport !== undefined && verifyBytes('EdDSA', issuer, passport.signingInput, passport.signature);
    verifyBytes('EdDSA', holder, Buffer.from(proof.slice(0, Math.max(0, dot)), 'ascii'), Buffer.from(proof.slice(dot + 1), 'base64url'));
    return passportOk;
  });
}

/**
 * Serves Authorization/Check on a free loopback port with the real server's transport and edge
 * (envoy/grpc-transport.ts, envoy/check-request.ts, envoy/check-response.ts): each request is read into its view,
 * `allow` says from its headers whether to answer the fixed allow or the denial. Tells the parent
 * the port, and stops when the parent goes.
 */
async function serveCheck(allow: (headers: ReadonlyMap<string, string>) => boolean): Promise<void> {
  const { GrpcServer } = await import('../authz-server/src/envoy/grpc-transport.js');
  const { CHECK_METHOD_PATH } = await import('../authz-server/src/envoy/services.js');
  const { readCheckRequest } = await import('../authz-server/src/envoy/check-request.js');
  const { writeCheckResponse } = await import('../authz-server/src/envoy/check-response.js');
  const server = new GrpcServer();
  server.unary(CHECK_METHOD_PATH, (call) => {
    const view = readCheckRequest(call.request, BENCH_VIEW_SETTINGS);
    call.reply(writeCheckResponse(!('reason' in view) && allow(view.headers) ? NOOP_DECISION : LOWER_BOUND_DENIAL));
  });
  void server.listen('127.0.0.1:0').then((port) => process.send!({ port }));
  process.on('disconnect', () => server.forceShutdown());
}

/**
 * The same no-op on node:http2 alone, with no gRPC layer at all (no header checks, deadline or
 * message reassembly): the HTTP/2 stack's own share of the floor.
 * A unary gRPC exchange by hand (length-prefixed message in, headers, message, grpc-status
 * trailers out), with the same request reader and response bytes.
 */
async function rawNoopServer(): Promise<void> {
  const { createServer } = await import('node:http2');
  const { readCheckRequest } = await import('../authz-server/src/envoy/check-request.js');
  const { writeCheckResponse } = await import('../authz-server/src/envoy/check-response.js');
  const framed = frameGrpcMessage(writeCheckResponse(NOOP_DECISION));
  const server = createServer();
  server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      readCheckRequest(Buffer.concat(chunks).subarray(5), BENCH_VIEW_SETTINGS);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      stream.end(framed);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('disconnect', () => server.close());
}

/** A request to the load process and its answer. */
export type Ask = (m: ToLoad) => Promise<FromLoad>;

/**
 * The forked load process (this file run with --load-child) and a request/answer function over its
 * IPC channel. Its own garbage collection must stay out of the figures: it collects before each timed
 * phase (--expose-gc), and a young generation of 128 MB from the start lets a whole open-loop round
 * run without a scavenge. At the default 16 MB it stalled 5-25 ms about once a second; with 64 MB as
 * a maximum only, V8 started it small and grew it during the round, and its scavenges of the
 * overload section's 5 s window took 20-59 ms each (--trace-gc), every check in flight then looking
 * that much slower. A large initial old space (--initial-old-space-size=1024) was tried too and made
 * it worse: scavenges of 76 and 145 ms inside the window.
 */
export function loadProcess(): { ask: Ask; stop: () => Promise<void>; pid: number } {
  const script = fileURLToPath(import.meta.url);
  const load = fork(script, ['--load-child'], { execArgv: ['--expose-gc', '--max-semi-space-size=128', '--min-semi-space-size=128'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask: Ask = (m) =>
    new Promise((resolve, reject) => {
      const onMessage = (r: FromLoad): void => {
        load.off('exit', onExit);
        if (r.op === 'error') reject(new Error(`load process: ${r.message}`));
        else resolve(r);
      };
      const onExit = (code: number | null): void => reject(new Error(`load process exited (${code})`));
      load.once('message', onMessage);
      load.once('exit', onExit);
      load.send(m);
    });
  const stop = async (): Promise<void> => {
    if (load.connected) load.send({ op: 'exit' } satisfies ToLoad);
    const timer = setTimeout(() => load.kill('SIGKILL'), 3000);
    await new Promise<void>((resolve) => (load.exitCode !== null || load.signalCode !== null ? resolve() : load.once('exit', () => resolve())));
    clearTimeout(timer);
  };
  return { ask, stop, pid: load.pid! };
}


if (process.send !== undefined && process.argv[2] === '--load-child') void child();
if (process.send !== undefined && process.argv[2] === '--raw-noop-server') void rawNoopServer();
if (process.send !== undefined && process.argv[2] === '--noop-server') void noopServer();
if (process.send !== undefined && process.argv[2] === '--verify-only-server') void verifyOnlyServer();
