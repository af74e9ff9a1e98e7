/**
 * The server past its capacity, and with its replay store frozen (docs/performance.md, "The
 * overload section"; docs/reason-codes.md, "Overload").
 *
 * 1. Overload. The real `trustplane server` (workers: 1, memory replay store, audit to a file) and
 *    the forked load process of bench/load-server.ts, whose lean HTTP/2 client sends Envoy's
 *    default ext_authz timeout as `grpc-timeout` (200 ms). First the capacity: allowed checks per
 *    second in a closed loop. Then an open loop offering 1.5× that rate for OVERLOAD_S seconds.
 *    Printed: goodput (checks allowed within their deadline, per second) as a share of the
 *    capacity — target ≥ 90%: shedding must keep the server deciding at about its capacity instead
 *    of letting every check grow late —, how fast shed checks (`overloaded`) were answered, and how
 *    many checks were answered after their deadline or not at all (target 0).
 * 2. Store stall. The same server on a real redis-server (the replay.redis.command_timeout_ms
 *    default, 100 ms), warmed up, then Redis frozen with SIGSTOP while checks arrive at a steady
 *    rate: every check must be answered within its deadline, with the store's reason code
 *    (`replay_store_unavailable`), not left for Envoy to time out.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exportPrivateJwk } from '../core/src/keys.js';
import { spawnServerProcess, type ServerProcess } from '../test/support/server-harness.js';
import { RedisServer, findRedisServer } from '../test/support/redis-server.js';
import { ANSWER_KINDS, benchTrust, loadProcess } from './load-server.js';

/** Envoy's default ext_authz timeout (`GrpcService.timeout`), sent as grpc-timeout. */
const DEADLINE_MS = 200;
const WARMUP_CHECKS = 4000;
const CAPACITY_CHECKS = 3000;
const CAPACITY_CONCURRENCY = 32;
const OVERLOAD_FACTOR = 1.5;
const OVERLOAD_S = 5;
const TARGET_GOODPUT = 0.9;
const STALL_WARMUP_CHECKS = 300;
const STALL_RATE_PER_S = 200;
const STALL_CHECKS = 400;

const verdict = (ok: boolean): string => (ok ? 'MET' : 'MISSED');

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}


async function startBenchServer(dir: string, replay: Record<string, unknown>): Promise<{ server: ServerProcess; trust: ReturnType<typeof benchTrust> }> {
  const trust = benchTrust();
  const bundlePath = join(dir, 'bundle.json');
  const jwksPath = join(dir, 'signing.jwks.json');
  writeFileSync(bundlePath, JSON.stringify(trust.doc));
  writeFileSync(jwksPath, JSON.stringify({ keys: [trust.bundleSigner.publicJwk] }));
  const server = await spawnServerProcess(dir, {
    bundle: { path: bundlePath, signing_keys: jwksPath },
    replay,
    audit: { sink: 'file', file: join(dir, 'audit.jsonl') },
    log_level: 'error',
    workers: 1,
    shutdown_drain_ms: 0,
  });
  return { server, trust };
}

export async function bench(): Promise<void> {
  console.log(`overload: past capacity, and a frozen replay store (real server process, workers: 1, grpc-timeout ${DEADLINE_MS} ms as Envoy's default)`);
  await overloadRun();
  await storeStallRun();
}

async function overloadRun(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-overload-'));
  const { server, trust } = await startBenchServer(dir, { store: 'memory', memory: { max_entries: 1_000_000 } });
  const load = loadProcess();
  try {
    const keys = { issuerJwk: exportPrivateJwk(trust.issuerKey), holderJwk: exportPrivateJwk(trust.holder) };
    // The capacity is measured without a tight deadline: a closed loop queues nothing past its concurrency.
    await load.ask({ op: 'init', address: server.grpcAddress, ...keys, count: WARMUP_CHECKS + CAPACITY_CHECKS, timeoutMs: 10_000 });
    await load.ask({ op: 'closed', count: WARMUP_CHECKS, concurrency: 16 });
    const cap = await load.ask({ op: 'closed', count: CAPACITY_CHECKS, concurrency: CAPACITY_CONCURRENCY });
    if (cap.op !== 'closed' || cap.allowed !== CAPACITY_CHECKS) throw new Error(`capacity run: ${JSON.stringify(cap)}`);
    const capacity = cap.allowed / (cap.wallMs / 1000);

    const rate = Math.round(capacity * OVERLOAD_FACTOR);
    const count = rate * OVERLOAD_S;
    await load.ask({ op: 'init', address: server.grpcAddress, ...keys, count, timeoutMs: DEADLINE_MS });
    const r = await load.ask({ op: 'open', ratePerS: rate, count });
    if (r.op !== 'open') throw new Error('unexpected answer');
    const windowS = count / rate;
    let goodInTime = 0;
    let late = 0;
    const shedLatency: number[] = [];
    const counts = [0, 0, 0, 0, 0];
    r.kinds.forEach((kind, i) => {
      counts[kind]!++;
      const ms = r.sentLatencyMs[i]!;
      if (kind === ANSWER_KINDS.error || ms > DEADLINE_MS) late++;
      else if (kind === ANSWER_KINDS.allow) goodInTime++;
      if (kind === ANSWER_KINDS.overloaded) shedLatency.push(ms);
    });
    const goodput = goodInTime / windowS;
    const share = goodput / capacity;
    const f1 = (x: number): string => x.toFixed(1);
    console.log(`  capacity (closed loop)                    ${Math.round(capacity)} checks/s  (${CAPACITY_CHECKS} allowed checks, ${CAPACITY_CONCURRENCY} in flight, after a ${WARMUP_CHECKS}-check warm-up)`);
    console.log(`  offered load                              ${rate} checks/s for ${OVERLOAD_S} s  (${OVERLOAD_FACTOR}× capacity, open loop, ${count} checks with one jti each)`);
    console.log(`  goodput, % of capacity                    ${(share * 100).toFixed(1)}%  (${Math.round(goodput)} checks/s allowed within their deadline; target ≥ ${TARGET_GOODPUT * 100}%: ${verdict(share >= TARGET_GOODPUT)})`);
    console.log(`  shed answers (overloaded)                 ${counts[ANSWER_KINDS.overloaded]}  (p50 ${f1(quantile(shedLatency, 0.5))} ms, p99 ${f1(quantile(shedLatency, 0.99))} ms from send; other denials ${counts[ANSWER_KINDS.other_deny]! + counts[ANSWER_KINDS.replay_store_unavailable]!})`);
    console.log(`  answered after the deadline               ${late}  (gRPC errors or answers later than ${DEADLINE_MS} ms, of ${count}; target 0: ${verdict(late === 0)})`);
  } finally {
    await load.stop();
    await server.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function storeStallRun(): Promise<void> {
  const bin = findRedisServer();
  if (bin === null) {
    console.log('  store stall                               skipped (redis-server is not installed; set REDIS_SERVER_BIN)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-stall-'));
  const redis = await RedisServer.create(bin);
  const { server, trust } = await startBenchServer(dir, { store: 'redis', redis: { url: redis.url } });
  const load = loadProcess();
  try {
    const keys = { issuerJwk: exportPrivateJwk(trust.issuerKey), holderJwk: exportPrivateJwk(trust.holder) };
    await load.ask({ op: 'init', address: server.grpcAddress, ...keys, count: STALL_WARMUP_CHECKS + STALL_CHECKS, timeoutMs: DEADLINE_MS });
    const warm = await load.ask({ op: 'closed', count: STALL_WARMUP_CHECKS, concurrency: 4 });
    if (warm.op !== 'closed' || warm.allowed !== STALL_WARMUP_CHECKS) throw new Error(`store stall warm-up: ${JSON.stringify(warm)}`);
    redis.pause();
    const r = await load.ask({ op: 'open', ratePerS: STALL_RATE_PER_S, count: STALL_CHECKS });
    redis.resume();
    if (r.op !== 'open') throw new Error('unexpected answer');
    const inTime = r.kinds.filter((k, i) => k !== ANSWER_KINDS.error && r.sentLatencyMs[i]! <= DEADLINE_MS).length;
    const storeCode = r.kinds.filter((k) => k === ANSWER_KINDS.replay_store_unavailable).length;
    const ok = inTime === STALL_CHECKS && storeCode === STALL_CHECKS;
    const f1 = (x: number): string => x.toFixed(1);
    console.log(
      `  store stall: answered within the deadline ${inTime}/${STALL_CHECKS}, replay_store_unavailable ${storeCode}/${STALL_CHECKS}  (redis-server frozen with SIGSTOP, ${STALL_RATE_PER_S} checks/s; latency p50 ${f1(quantile(r.sentLatencyMs, 0.5))} ms, max ${f1(Math.max(...r.sentLatencyMs))} ms; overloaded ${r.kinds.filter((k) => k === ANSWER_KINDS.overloaded).length}, gRPC errors ${r.errors}; target all: ${verdict(ok)})`,
    );
  } finally {
    redis.resume();
    await load.stop();
    await server.stop(10_000);
    await redis.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await bench();
}
