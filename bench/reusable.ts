/**
 * Reusable passports against per-request passports (issue 16; docs/transcript-v1.md §15), in one
 * run, on the same requests (same route, method, path, headers and body; only the passport mode
 * differs), for Ed25519 and ES256 holder keys:
 *
 * 1. Server, over gRPC, load from separate processes, as bench/server.ts measures it: the real
 *    `trustplane server` process (workers: 1, memory replay store, audit to a file, the verified
 *    passport cache at its default), and two forked load processes with pre-signed requests — one
 *    with a fresh passport per request, one with a single reusable passport and a fresh proof per
 *    request — and a third with DPoP (docs/dpop.md): one DPoP-bound access token from the issuer key
 *    and a fresh proof per request from the third-party `dpop` client, with a proof key of the same
 *    algorithm as the holder key (./dpop-presign.ts). DPoP's requests are the others' method,
 *    authority, headers and body on a route of their own (BENCH_DPOP_ROUTE: DPoP cannot bind what
 *    the passport route requires). Closed-loop rounds alternate between the modes (per-request,
 *    reusable, DPoP, …) so all see the same machine within seconds of each other; each round set
 *    gives a ratio to its per-request round, and the figure is the median of those ratios (the range
 *    is printed: the machine is shared and noisy).
 *    - CPU per allowed check: the server's utime+stime across the round / allowed checks.
 *    - Maximum sustained checks/s: the same closed-loop rounds (32 in flight).
 * 2. The caller, in this process: CPU per signed request through the SDK (createSigner with an
 *    issuer-key passport source) in both modes — per-request mints and signs a passport for every
 *    request, reusable signs only the proof. Interleaved batches, median of batch means.
 *
 * 3. The decision alone, in this process (reusable-in-process.ts): the same two modes through one
 *    CheckService without transport, audit or metrics, and what the server spends around each
 *    decision (server CPU per check less the decision alone), against the most the 0.6 target
 *    leaves for it.
 *
 * Targets (issue 16): reusable ≤ 0.6× the CPU per check of per-request, and ≥ 1.6× its checks/s.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ENGINE_OPTIONS } from '../core/src/engine/options.js';
import { exportPrivateJwk, generateSigningKey } from '../core/src/keys.js';
import type { SigningAlg } from '../core/src/types.js';
import { createSigner } from '../sdk/src/signer.js';
import { spawnServerProcess } from '../test/support/server-harness.js';
import { benchServerConfig, cpuMsOf, median, range, us, verdict } from './server.js';
import { inProcessModes } from './reusable-in-process.js';
import {
  BENCH_AUDIENCE,
  BENCH_AUTHORITY,
  BENCH_BODY,
  BENCH_ISSUER,
  BENCH_PATH,
  BENCH_REUSABLE_LIFETIME_S,
  BENCH_ROUTE,
  BENCH_SUBJECT,
  BENCH_TRUST_DOMAIN,
  loadProcess,
  writeBenchTrust,
} from './load-server.js';

const WARMUP_CHECKS = 6000;
/** TRUSTPLANE_BENCH_REUSABLE_PAIRS raises it where the machine is noisy. */
const ROUND_PAIRS = Number(process.env.TRUSTPLANE_BENCH_REUSABLE_PAIRS ?? 5);
const CHECKS_PER_ROUND = 3000;
const CONCURRENCY = Number(process.env.TRUSTPLANE_BENCH_REUSABLE_CONCURRENCY ?? 32);
const SDK_BATCHES = 9;
const SDK_BATCH = 300;

const TARGET_CPU_RATIO = 0.6;
const TARGET_RATE_RATIO = 1.6;

interface Round {
  readonly cpuMs: number;
  readonly perS: number;
  /** Share of one core the server and the load process used over the round's wall time. */
  readonly serverShare: number;
  readonly loadShare: number;
}

/** Reasons of the denies in the server's audit file: a loaded machine sheds a few checks (`overloaded`); a round with more than 5% denied stops the bench. */
function denyReasons(file: string): string {
  if (!existsSync(file)) return 'no audit file';
  const counts = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const reason = (JSON.parse(line) as { reason_code: string }).reason_code;
    if (reason !== 'ok') counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return counts.size === 0 ? 'none' : [...counts].map(([r, n]) => `${r} ${n}`).join(', ');
}

async function serverModes(alg: SigningAlg): Promise<{ perRequest: Round[]; reusable: Round[]; dpop: Round[]; denied: number; denyReasons: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-reusable-'));
  const { issuerKey, holder, bundlePath, jwksPath } = writeBenchTrust(dir, alg, true);
  const server = await spawnServerProcess(dir, benchServerConfig(dir, bundlePath, jwksPath, 'audit.jsonl'), { name: `bench-reusable-${alg}` });
  // The server's replay generation began before it answered ready. DPoP proofs are dated when the
  // `dpop` client makes them, so they are made once that generation is older than the clock tolerance.
  const dpopNotBeforeMs = Date.now() + (DEFAULT_ENGINE_OPTIONS.clockToleranceS + 1) * 1000;
  const a = loadProcess();
  const b = loadProcess();
  const c = loadProcess();
  try {
    const count = WARMUP_CHECKS + ROUND_PAIRS * CHECKS_PER_ROUND;
    const init = { op: 'init', address: server.grpcAddress, issuerJwk: exportPrivateJwk(issuerKey), holderJwk: exportPrivateJwk(holder), count } as const;
    const [ra, rb, rc] = await Promise.all([a.ask(init), b.ask({ ...init, reusable: true, lifetimeS: BENCH_REUSABLE_LIFETIME_S }), c.ask({ ...init, dpop: { notBeforeMs: dpopNotBeforeMs } })]);
    if (ra.op !== 'ready' || rb.op !== 'ready' || rc.op !== 'ready') throw new Error('load processes did not get ready');
    for (const load of [a, b, c]) {
      const w = await load.ask({ op: 'closed', count: WARMUP_CHECKS, concurrency: 16 });
      if (w.op !== 'closed' || w.allowed < WARMUP_CHECKS * 0.95) throw new Error(`warm-up: ${JSON.stringify(w)}`);
    }
    const round = async (load: typeof a): Promise<Round> => {
      const before = cpuMsOf(server.pid);
      const loadBefore = cpuMsOf(load.pid);
      const r = await load.ask({ op: 'closed', count: CHECKS_PER_ROUND, concurrency: CONCURRENCY });
      const after = cpuMsOf(server.pid);
      const loadAfter = cpuMsOf(load.pid);
      if (r.op !== 'closed' || r.allowed < CHECKS_PER_ROUND * 0.95) throw new Error(`closed round: ${JSON.stringify(r)}`);
      denied += r.denied + r.errors;
      const serverMs = after.user + after.system - before.user - before.system;
      const loadMs = loadAfter.user + loadAfter.system - loadBefore.user - loadBefore.system;
      return { cpuMs: serverMs / r.allowed, perS: r.allowed / (r.wallMs / 1000), serverShare: serverMs / r.wallMs, loadShare: loadMs / r.wallMs };
    };
    let denied = 0;
    const perRequest: Round[] = [];
    const reusable: Round[] = [];
    const dpop: Round[] = [];
    for (let pair = 0; pair < ROUND_PAIRS; pair++) {
      perRequest.push(await round(a));
      reusable.push(await round(b));
      dpop.push(await round(c));
    }
    return { perRequest, reusable, dpop, denied, denyReasons: denyReasons(join(dir, 'audit.jsonl')) };
  } finally {
    await a.stop();
    await b.stop();
    await c.stop();
    await server.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU per `sign()` through the SDK, per-request and reusable, interleaved batches. */
async function sdkModes(alg: SigningAlg): Promise<{ perRequestMs: number; reusableMs: number }> {
  const issuerKey = generateSigningKey('EdDSA');
  const holder = generateSigningKey(alg);
  const common = {
    key: holder,
    passport: { kind: 'issuer' as const, key: issuerKey, issuer: BENCH_ISSUER, subject: BENCH_SUBJECT, trustDomain: BENCH_TRUST_DOMAIN, lifetimeS: 300 },
    audience: BENCH_AUDIENCE,
    route: BENCH_ROUTE,
    bindHeaders: ['content-type'],
  };
  const perRequest = createSigner(common);
  const reusable = createSigner({ ...common, passport: { ...common.passport, lifetimeS: BENCH_REUSABLE_LIFETIME_S }, reusable: true });
  const input = { method: 'POST', url: `https://${BENCH_AUTHORITY}${BENCH_PATH}`, headers: { 'content-type': 'application/json' }, body: BENCH_BODY };
  const batch = async (s: typeof perRequest): Promise<number> => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < SDK_BATCH; i++) await s.sign(input);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / SDK_BATCH;
  };
  await batch(perRequest);
  await batch(reusable);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < SDK_BATCHES; i++) {
    a.push(await batch(perRequest));
    b.push(await batch(reusable));
  }
  return { perRequestMs: median(a), reusableMs: median(b) };
}

export async function bench(): Promise<void> {
  console.log('reusable: per-request vs reusable passports (real server process, workers: 1, memory store, audit to a file; alternating closed-loop rounds)');
  const load0 = loadavg()[0]!;
  for (const alg of ['EdDSA', 'ES256'] as const) {
    const { perRequest, reusable, dpop, denied, denyReasons } = await serverModes(alg);
    const cpuRatios = reusable.map((r, i) => r.cpuMs / perRequest[i]!.cpuMs);
    const rateRatios = reusable.map((r, i) => r.perS / perRequest[i]!.perS);
    const cpuRatio = median(cpuRatios);
    const rateRatio = median(rateRatios);
    const name = alg === 'EdDSA' ? 'Ed25519' : 'ES256 (P-256)';
    console.log(`  ${name} holder key`);
    console.log(`    server CPU per allowed check, per-request ${us(median(perRequest.map((r) => r.cpuMs)))}  (rounds ${range(perRequest.map((r) => r.cpuMs), us)})`);
    console.log(`    server CPU per allowed check, reusable    ${us(median(reusable.map((r) => r.cpuMs)))}  (rounds ${range(reusable.map((r) => r.cpuMs), us)})`);
    console.log(`    ratio reusable / per-request CPU          ${cpuRatio.toFixed(2)}  (target ≤ ${TARGET_CPU_RATIO}: ${verdict(cpuRatio <= TARGET_CPU_RATIO)}; median of ${ROUND_PAIRS} pairs, ${range(cpuRatios, (x) => x.toFixed(2))})`);
    console.log(`    maximum sustained checks/s, per-request   ${Math.round(median(perRequest.map((r) => r.perS)))}  (closed loop, ${CONCURRENCY} in flight, rounds of ${CHECKS_PER_ROUND})`);
    console.log(`    maximum sustained checks/s, reusable      ${Math.round(median(reusable.map((r) => r.perS)))}`);
    console.log(`    ratio reusable / per-request checks/s     ${rateRatio.toFixed(2)}  (target ≥ ${TARGET_RATE_RATIO}: ${verdict(rateRatio >= TARGET_RATE_RATIO)}; ${range(rateRatios, (x) => x.toFixed(2))})`);
    const pct = (x: number): string => `${Math.round(100 * x)}%`;
    const shares = (rs: readonly Round[]): string => `server ${pct(median(rs.map((r) => r.serverShare)))}, load process ${pct(median(rs.map((r) => r.loadShare)))}`;
    // On two cores the closed loop reaches the server's maximum only while the load process has CPU to spare.
    console.log(`    share of a core over the rounds           per-request: ${shares(perRequest)}; reusable: ${shares(reusable)}  (a load process near 100% sets the pace, not the server)`);
    const alone = await inProcessModes(alg);
    console.log(`    the decision alone, in process            per-request ${us(alone.perRequestMs)}, reusable ${us(alone.reusableMs)}: ${alone.ratio.toFixed(2)}  (${range(alone.ratios, (x) => x.toFixed(2))}; bytes in to bytes out, no transport, audit line or metrics)`);
    const around = (rs: readonly Round[], decisionMs: number): string => us(median(rs.map((r) => r.cpuMs)) - decisionMs);
    // (reusable + T) / (per-request + T) ≤ 0.6 ⇔ T ≤ (0.6 per-request − reusable) / 0.4.
    const roomMs = (TARGET_CPU_RATIO * alone.perRequestMs - alone.reusableMs) / (1 - TARGET_CPU_RATIO);
    console.log(`    around the decision over gRPC             per-request ${around(perRequest, alone.perRequestMs)}, reusable ${around(reusable, alone.reusableMs)}  (server CPU per check less the decision alone: transport, audit, metrics, GC); ≤ ${TARGET_CPU_RATIO} end to end needs it ≤ ${us(Math.max(0, roomMs))}`);
    const dpopCpuRatios = dpop.map((r, i) => r.cpuMs / perRequest[i]!.cpuMs);
    const dpopRateRatios = dpop.map((r, i) => r.perS / perRequest[i]!.perS);
    console.log(`    DPoP (one access token, a fresh dpop-client proof per request, ${name} proof key)`);
    console.log(`      server CPU per allowed check, DPoP      ${us(median(dpop.map((r) => r.cpuMs)))}  (rounds ${range(dpop.map((r) => r.cpuMs), us)}); ratio to per-request ${median(dpopCpuRatios).toFixed(2)} (${range(dpopCpuRatios, (x) => x.toFixed(2))})`);
    console.log(`      maximum sustained checks/s, DPoP        ${Math.round(median(dpop.map((r) => r.perS)))}; ratio to per-request ${median(dpopRateRatios).toFixed(2)} (${range(dpopRateRatios, (x) => x.toFixed(2))})`);
    if (denied > 0) console.log(`    denied in the timed rounds                ${denied} of ${3 * ROUND_PAIRS * CHECKS_PER_ROUND} (whole run, by reason: ${denyReasons}); CPU is per allowed check`);
    const sdk = await sdkModes(alg);
    console.log(`    caller CPU per signed request (SDK)       per-request ${us(sdk.perRequestMs)} (mints a passport each time), reusable ${us(sdk.reusableMs)} (proof only): ${(sdk.reusableMs / sdk.perRequestMs).toFixed(2)}×`);
  }
  console.log(`  machine load average (1 min) around it    ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}  (other work on the cores widens the ranges)`);
}
