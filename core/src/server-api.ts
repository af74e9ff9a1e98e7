/**
 * The core's second entry: for this repository's verifying and operating components — the
 * ext_authz server, the middleware, the broker, the CLI, the development gateway and the shared
 * service plumbing. It is everything in the public face (`index.ts`) plus what those components
 * need and package users do not: the decision engine, bundles (compile, verify, sign, edit),
 * replay stores, and the small helpers the server's edges share (identity checks, redaction,
 * printable text, the route-id rule). Not a promise to package users; the middleware package
 * compiles it (its only server-side dependency is ioredis, an optional peer, loaded lazily by the
 * Redis replay store), the SDK package must not (import `index.ts` from sdk/ and broker/src/client.ts).
 *
 * The rule: code outside `core/` imports core only through `core/src/index.js` or this file (and
 * `core/src/package-root.js` for the file layout, see below), never a module behind them and
 * never `core/src/lib/` (test/core/public-face.test.ts). Modules behind these entries may be
 * split or moved freely; add what a component needs here, by name.
 *
 * `PACKAGE_ROOT` is deliberately not re-exported: evaluating `package-root.ts` looks for the
 * checkout's `package.json` and `protos/` and throws where they are absent (inside the SDK and
 * middleware packages), so the CLI and the gateway import `core/src/package-root.js` directly.
 */
export * from './index.js';
export { verifyRequest, edgeDecision, type VerifyInput } from './engine/verify.js';
export { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from './engine/options.js';
export { VerifiedPassportCache, PASSPORT_CACHE_DEFAULT_MAX_ENTRIES, PASSPORT_CACHE_MAX_ENTRIES_LIMIT, type PassportCache, type VerifiedPassport } from './engine/passport-cache.js';
export * from './bundle/index.js';
export { ROUTE_ID } from './bundle/lib/rules.js';
export { createReplayStore, MemoryReplayStore, RedisReplayStore, type ReplayStore, type ConsumeResult, type ReplayStoreConfig } from './replay/index.js';
export { boundedWait } from './replay/wait.js';
export { identityProblem, isIdentityUri } from './identity.js';
export { printable, CONTROL_CHARACTER } from './printable.js';
export { REDACTED, redactForLog, redactString, isSensitiveKey } from './redact.js';
