/**
 * The decision alone, per-request against reusable passports (issue 16; docs/performance.md, "The
 * reusable section"): one in-process CheckService, from CheckRequest bytes to CheckResponse bytes —
 * reading the request, the engine (signatures, transcript, replay consume in the memory store) and
 * writing the response — with the verified-passport cache at the server's default bound, and no
 * transport, audit line or metrics. Alternating batches of each mode, CPU of this process per
 * decision, the median of the batch pairs' ratios.
 *
 * Over gRPC every check also pays the transport, the same in both modes, so the end-to-end ratio is
 * (reusable + T) / (per-request + T) with T the transport and after-decision cost: this section
 * shows how much of the distance to the target is the decision and how much is what surrounds it.
 */
import { compileBundle } from '../core/src/bundle/compile.js';
import { DEFAULT_ENGINE_OPTIONS } from '../core/src/engine/options.js';
import { PASSPORT_CACHE_DEFAULT_MAX_ENTRIES, VerifiedPassportCache } from '../core/src/engine/passport-cache.js';
import type { Decision, SigningAlg } from '../core/src/types.js';
import { BENCH_REUSABLE_LIFETIME_S, benchCheckService, benchTrust, presign, untilPresignedValid } from './load-server.js';
import { median } from './server.js';

const BATCHES = 8;
const BATCH = 400;

export interface InProcessModes {
  /** CPU per decision, milliseconds (medians of the batches). */
  readonly perRequestMs: number;
  readonly reusableMs: number;
  /** Median of the batch pairs' reusable / per-request ratios, and their range. */
  readonly ratio: number;
  readonly ratios: readonly number[];
}

export async function inProcessModes(alg: SigningAlg): Promise<InProcessModes> {
  const { issuerKey, holder, doc } = benchTrust(alg, true);
  const bundle = compileBundle(doc);
  let denied = '';
  const onDecision = (decision: Decision): void => {
    if (!decision.allow && denied === '') denied = `${decision.reason} (${decision.detail ?? ''})`;
  };
  const service = benchCheckService(bundle, onDecision, { ...DEFAULT_ENGINE_OPTIONS, passportCache: new VerifiedPassportCache(PASSPORT_CACHE_DEFAULT_MAX_ENTRIES) });
  const count = (BATCHES + 1) * BATCH;
  const perRequest = presign(issuerKey, holder, count).map((r) => r.bytes);
  const reusable = presign(issuerKey, holder, count, BENCH_REUSABLE_LIFETIME_S, true).map((r) => r.bytes);
  await untilPresignedValid();
  const batch = async (requests: readonly Uint8Array[], from: number): Promise<number> => {
    const c0 = process.cpuUsage();
    for (let i = from; i < from + BATCH; i++) await service.decide(requests[i]!);
    const c = process.cpuUsage(c0);
    if (denied !== '') throw new Error(`in-process bench decision denied: ${denied}`);
    return (c.user + c.system) / 1000 / BATCH;
  };
  // The first batch of each mode warms up (and fills the cache); then alternating pairs.
  await batch(perRequest, 0);
  await batch(reusable, 0);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 1; i <= BATCHES; i++) {
    a.push(await batch(perRequest, i * BATCH));
    b.push(await batch(reusable, i * BATCH));
  }
  service.close();
  const ratios = b.map((x, i) => x / a[i]!);
  return { perRequestMs: median(a), reusableMs: median(b), ratio: median(ratios), ratios };
}
