/**
 * Bytes allocated on the V8 heap per allowed check, in-process, for this build and (with
 * TRUSTPLANE_BENCH_BASE) another checkout's: a CheckService of each build, on the bench bundle and a
 * memory replay store, takes CheckRequest bytes to CheckResponse bytes (a build from before
 * authz-server/src/envoy/ decodes with its proto.ts codec and encodes with response-codec.ts, as its
 * server did). Metrics and the audit line (onDecision) are left out: the same code in both builds.
 *
 * How: allocated = (heap used after − heap used before) + Σ over the garbage collections in between of
 * (heap used before the GC − heap used after it), the GC figures from v8.GCProfiler, which records
 * the heap statistics at each GC's start and end. Every byte allocated is either still in use at the
 * end or was freed by one of those collections, so the sum counts each allocation once whatever the
 * GC timing; it needs no --trace-gc and no sampling. Rounds alternate between the builds (base first,
 * then this, then the other way round) and the figure is the median over rounds.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import type { BundleDocument } from '../core/src/bundle/types.js';
import type { SigningKey } from '../core/src/keys.js';
import { presign } from './load-server.js';

const ROUNDS = 5;
const CHECKS_PER_ROUND = 500;
const WARMUP_CHECKS = 1000;

type Check = (bytes: Buffer) => Promise<unknown>;

/** A build's CheckService, bytes in, bytes out, from `distRoot` (a `dist/`). */
async function checkOf(distRoot: string, doc: BundleDocument, allowed: () => void): Promise<Check> {
  const load = async (path: string): Promise<Record<string, never>> => (await import(pathToFileURL(join(distRoot, path)).href)) as Record<string, never>;
  const { CheckService } = await load('authz-server/src/check-service.js');
  const { MemoryReplayStore } = await load('core/src/replay/memory.js');
  // core/src/engine/options.ts since issue 14; a base built before that has them in state.ts.
  const { DEFAULT_ENGINE_OPTIONS } = await load('core/src/engine/options.js').catch(() => load('core/src/engine/state.js'));
  const { compileBundle } = await load('core/src/bundle/compile.js');
  const bundle = (compileBundle as (d: BundleDocument) => unknown)(doc);
  const Service = CheckService as unknown as new (deps: object) => { decide(request: unknown): Promise<unknown> };
  const Store = MemoryReplayStore as unknown as new (o: object) => object;
  const service = new Service({
    bundle: () => bundle,
    store: new Store({ maxEntries: 1_000_000, generationStartMs: -Infinity }),
    settings: { bodyHeader: { trusted: false, name: 'x-trustplane-body-sha256' }, envoyBuffersBody: false },
    engine: DEFAULT_ENGINE_OPTIONS,
    onDecision: (d: { allow: boolean }) => void (d.allow && allowed()),
    onInternalError: (error: unknown) => {
      throw error;
    },
  });
  if (existsSync(join(distRoot, 'authz-server', 'src', 'envoy', 'check-request.js'))) return (bytes) => service.decide(bytes);
  // A base from before authz-server/src/envoy/ (commit 7fbb08e) and core/src/engine/options.ts
  // (276edf7), such as 2cb6f08 where both arrived: the A/B of that change against its base needs
  // this path and the state.ts fallback above. Delete both once no base that old is compared.
  const { decodeCheckRequest } = await load('authz-server/src/proto.js');
  const { encodeCheckResponseFast } = await load('authz-server/src/response-codec.js');
  const decode = decodeCheckRequest as (b: Buffer) => unknown;
  const encode = encodeCheckResponseFast as (r: unknown) => Buffer;
  return async (bytes) => encode(await service.decide(decode(bytes)));
}

async function allocatedBytes(check: Check, requests: readonly Buffer[]): Promise<number> {
  const profiler = new GCProfiler();
  profiler.start();
  const before = getHeapStatistics().used_heap_size;
  for (const bytes of requests) await check(bytes);
  const after = getHeapStatistics().used_heap_size;
  const { statistics } = profiler.stop();
  let freed = 0;
  for (const gc of statistics) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  return after - before + freed;
}

export interface AllocationResult {
  /** Median bytes per allowed check, by build ('this', and 'base' when given). */
  readonly bytesPerCheck: Readonly<Record<string, number>>;
  readonly ratios: readonly number[];
  readonly rounds: number;
  readonly checksPerRound: number;
}

export async function allocationsPerCheck(doc: BundleDocument, issuerKey: SigningKey, holder: SigningKey, baseCheckout?: string): Promise<AllocationResult> {
  const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const builds: Array<[string, string]> = [...(baseCheckout ? [['base', join(resolve(baseCheckout), 'dist')] as [string, string]] : []), ['this', here]];
  let allowed = 0;
  const sides = await Promise.all(builds.map(async ([name, dist]) => ({ name, check: await checkOf(dist, doc, () => allowed++), samples: [] as number[] })));
  // Signed before anything is timed, and a second older than any check: a build whose engine keeps
  // a cached clock (refreshed by a timer, which a tight loop starves) must not see them as future.
  const requests = sides.map(() => presign(issuerKey, holder, WARMUP_CHECKS + ROUNDS * CHECKS_PER_ROUND).map((it) => it.bytes));
  await new Promise((done) => setTimeout(done, 1100));
  sides.forEach((side, i) => requests[i]!.splice(0, WARMUP_CHECKS).forEach((bytes) => void side.check(bytes)));
  await new Promise((done) => setTimeout(done, 100));
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const mine = requests[sides.indexOf(side)]!.splice(0, CHECKS_PER_ROUND);
      allowed = 0;
      const bytes = await allocatedBytes(side.check, mine);
      await new Promise((done) => setImmediate(done));
      if (allowed !== CHECKS_PER_ROUND) throw new Error(`allocations: ${side.name} allowed ${allowed} of ${CHECKS_PER_ROUND}`);
      side.samples.push(bytes / CHECKS_PER_ROUND);
    }
  }
  const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
  const bytesPerCheck = Object.fromEntries(sides.map((s) => [s.name, median(s.samples)]));
  const base = sides.find((s) => s.name === 'base');
  const self = sides.find((s) => s.name === 'this')!;
  return { bytesPerCheck, ratios: base ? self.samples.map((t, i) => t / base.samples[i]!) : [], rounds: ROUNDS, checksPerRound: CHECKS_PER_ROUND };
}
