/**
 * `npm run soak`: the server under steady load for a bounded time, and the memory of every one of
 * its processes (docs/performance.md, "Soak"). Not part of `npm test`.
 *
 * The real `trustplane server` runs with the default two workers and the memory replay store, so
 * the primary holds the store for both workers (authz-server/src/cluster.ts). The forked load
 * process of bench/load-server.ts sends signed checks at SOAK_RATE per second (default 300), each
 * with its own jti, in rounds of ROUND_S seconds, each round pre-signed just before it (proofs stay
 * fresh). Passports live PASSPORT_LIFETIME_S (default 20 s) and are dated 31 s ahead of their
 * signing (presign(), for the server's replay generation), so a replay record lives up to 31 + 20 +
 * the 30 s clock tolerance = 81 s after its check was sent.
 *
 * The warm-up (SOAK_WARMUP_S, default 180 s) is what it takes the store to reach its steady size:
 * no record expires before about 81 s, and the store's incremental sweep (core/src/replay/memory.ts)
 * ends a cycle within about one more record lifetime, so the entry count levels off by about twice
 * the record lifetime (162 s), and V8's heap with it. SOAK_SECONDS (default 360) in all.
 *
 * It prints, for the primary and every worker, the RSS at the start, after the warm-up and at the
 * end, and the growth from the warm-up to the end: the target is under 5% for every process. RSS
 * moves by several percent between garbage collections, so the server runs with --expose-gc and
 * TRUSTPLANE_MEMORY_REPORT_MS (cluster.ts, memoryReports): when the warm-up ends, and 30 s and one
 * round before the end, every process is sent SIGUSR2 and reports its heap after a full collection,
 * and "after warm-up" and "end" are medians of one sample a second over the 30 s after each
 * collection: the same point of the collector's cycle (taken at any moment, the primary's medians
 * read 4–9% apart either way in runs of the same build). The primary also reports the replay
 * store's entries every 10 s, printed with the number of allowed checks whose records can still be
 * live at each report (sent in the record lifetime before it): the store holds no more than those.
 * Exit code 1 when any process grew 5% or more, or any check failed.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPrivateJwk } from '../core/src/keys.js';
import { spawnServerProcess } from '../test/support/server-harness.js';
import { ANSWER_KINDS, loadProcess, writeBenchTrust } from '../bench/load-server.js';

const env = (name: string, dflt: number): number => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const TOTAL_S = env('SOAK_SECONDS', 360);
const WARMUP_S = env('SOAK_WARMUP_S', 180);
const RATE = env('SOAK_RATE', 300);
const LIFETIME_S = env('PASSPORT_LIFETIME_S', 20);
const ROUND_S = 10;
const TARGET_GROWTH = 0.05;
/** The engine's default clock tolerance, added to a replay record's lifetime (docs/configuration.md). */
const CLOCK_TOLERANCE_S = 30;
/** bench/load-server.ts presign() dates passports this far ahead of their signing (the server's replay generation). */
const DATED_AHEAD_S = 31;
/** The longest a replay record lives after its check was sent: it ends at exp + tolerance. */
const RECORD_S = DATED_AHEAD_S + LIFETIME_S + CLOCK_TOLERANCE_S;
const WINDOW_S = 30;
/**
 * SOAK_CLI_MAIN: another build's dist/cli/src/main.js, to compare (an A/B of two builds). Such a
 * build may not have the memory reports (cluster.ts, memoryReports): no SIGUSR2 is sent to it.
 */
const OTHER_BUILD = process.env['SOAK_CLI_MAIN'];
const REPORT_MS = 10_000;

interface MemoryReport {
  readonly pid: number;
  readonly t: number;
  readonly after_gc: boolean;
  readonly rss: number;
  readonly heap_used: number;
  readonly heap_total: number;
  readonly external: number;
  readonly replay_entries?: number;
}

/** The `memory` lines the server's processes logged (cluster.ts, memoryReports). */
function memoryReports(log: readonly string[], t0: number): MemoryReport[] {
  const out: MemoryReport[] = [];
  for (const line of log) {
    if (!line.includes('"msg":"memory"')) continue;
    try {
      const j = JSON.parse(line) as MemoryReport & { time: string };
      out.push({ ...j, t: (Date.parse(j.time) - t0) / 1000 });
    } catch {
      // not a report
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process, bytes (Linux /proc). */
function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Direct children of `pid` (the cluster workers). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: scan every process's parent.
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
        } catch {
          return false;
        }
      })
      .map(Number);
  }
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

async function main(): Promise<void> {
  // Two windows of WINDOW_S after their collections, the second starting a round after the first
  // ends: a soak shorter than that would compare overlapping windows.
  const neededS = WARMUP_S + 2 * (WINDOW_S + 1) + ROUND_S;
  if (TOTAL_S < neededS) throw new Error(`SOAK_SECONDS (${TOTAL_S}) leaves no room for two ${WINDOW_S} s windows after SOAK_WARMUP_S (${WARMUP_S}): at least ${neededS}`);
  const dir = mkdtempSync(join(tmpdir(), 'tp-soak-'));
  const { bundlePath, jwksPath, ...trust } = writeBenchTrust(dir);
  process.env['TRUSTPLANE_MEMORY_REPORT_MS'] = String(REPORT_MS);
  const server = await spawnServerProcess(dir, {
    bundle: { path: bundlePath, signing_keys: jwksPath },
    replay: { store: 'memory' },
    audit: { sink: 'file', file: join(dir, 'audit.jsonl') },
    log_level: 'info',
    workers: 2,
    shutdown_drain_ms: 0,
  }, { nodeArgs: ['--expose-gc'], ...(OTHER_BUILD !== undefined ? { cliMain: OTHER_BUILD } : {}) });
  const { ask, stop } = loadProcess();
  let failed = false;
  const t0 = Date.now();
  let sampler: NodeJS.Timeout | undefined;
  try {
    const pids = [server.pid, ...childrenOf(server.pid)];
    const names = pids.map((p, i) => (i === 0 ? `primary ${p}` : `worker ${p}`));
    const sample = (): number[] => pids.map(rssOf);
    console.log(`soak: trustplane server, workers: 2, memory replay store in the primary; ${RATE} checks/s for ${TOTAL_S} s (warm-up ${WARMUP_S} s), passports of ${LIFETIME_S} s`);
    const atStart = sample();
    // One sample a second, with the time it was taken (seconds since the start).
    const samples: { t: number; rss: number[] }[] = [];
    sampler = setInterval(() => samples.push({ t: (Date.now() - t0) / 1000, rss: sample() }), 1000);
    const medianOver = (from: number, to: number): number[] => {
      const inWindow = samples.filter((x) => x.t >= from && x.t <= to);
      return pids.map((_, i) => {
        const xs = inWindow.map((x) => x.rss[i]!).sort((a, b) => a - b);
        return xs[Math.floor(xs.length / 2)] ?? Number.NaN;
      });
    };
    let allowed = 0;
    let bad = 0;
    const kinds: number[] = [];
    const rounds: { end: number; allowed: number }[] = [];
    const keys = { issuerJwk: exportPrivateJwk(trust.issuerKey), holderJwk: exportPrivateJwk(trust.holder) };
    // Heap after a full collection, every process: when the warm-up ends, and before the last window.
    const gcProbe = async (): Promise<number> => {
      const at = (Date.now() - t0) / 1000;
      if (OTHER_BUILD === undefined) for (const pid of pids) process.kill(pid, 'SIGUSR2');
      await sleep(1000);
      return at;
    };
    // Both windows start right after a full collection, so that both sit at the same point of the
    // collector's cycle: between collections the primary's RSS climbs by 4–7% over minutes as its old
    // generation fills, and a window that fell just after a natural collection read that much lower.
    let warmGcAt: number | undefined;
    let endGcAt: number | undefined;
    // Until TOTAL_S, and past it if the last window is not over (a round may have run late).
    const elapsed = (): number => (Date.now() - t0) / 1000;
    while (elapsed() < TOTAL_S || endGcAt === undefined || elapsed() < endGcAt + 1 + WINDOW_S) {
      const now = elapsed();
      if (warmGcAt === undefined && now >= WARMUP_S) warmGcAt = await gcProbe();
      else if (warmGcAt !== undefined && endGcAt === undefined && now >= Math.max(TOTAL_S - WINDOW_S - ROUND_S, warmGcAt + 1 + WINDOW_S)) endGcAt = await gcProbe();
      const count = RATE * ROUND_S;
      // A new connection each round: the cluster hands whole connections to workers in turn.
      await ask({ op: 'init', address: server.grpcAddress, ...keys, count, lifetimeS: LIFETIME_S, timeoutMs: 2000 });
      const r = await ask({ op: 'open', ratePerS: RATE, count });
      if (r.op !== 'open') throw new Error('unexpected answer');
      allowed += r.allowed;
      rounds.push({ end: (Date.now() - t0) / 1000, allowed: r.allowed });
      bad += r.denied + r.errors;
      for (const k of r.kinds) kinds[k] = (kinds[k] ?? 0) + 1;
    }
    clearInterval(sampler);
    if (warmGcAt === undefined || endGcAt === undefined) throw new Error('unreachable: the loop runs until both collections are done');
    // The 30 s after each collection (its report comes within the second after the signal).
    const atWarm = medianOver(warmGcAt + 1, warmGcAt + 1 + WINDOW_S);
    const atEnd = medianOver(endGcAt + 1, endGcAt + 1 + WINDOW_S);
    const reports = memoryReports(server.log, t0);
    const heapAfterGc = (pid: number, at: number): number => reports.find((r) => r.pid === pid && r.after_gc && r.t >= at - 1)?.heap_used ?? Number.NaN;
    let heapGrew = false;
    const pct = (a: number, b: number): string => `${(((b - a) / a) * 100).toFixed(1)}%`;
    console.log(`  ${'process'.padEnd(16)} ${'RSS start'.padStart(10)} ${'after warm-up'.padStart(14)} ${'end'.padStart(10)} ${'growth'.padStart(7)}   ${'heap after GC: warm-up'.padStart(22)} ${'end'.padStart(10)} ${'growth'.padStart(7)}`);
    names.forEach((name, i) => {
      const growth = (atEnd[i]! - atWarm[i]!) / atWarm[i]!;
      if (!(growth < TARGET_GROWTH)) failed = true;
      const h0 = heapAfterGc(pids[i]!, warmGcAt);
      const h1 = heapAfterGc(pids[i]!, endGcAt);
      if (!((h1 - h0) / h0 < TARGET_GROWTH)) heapGrew = true;
      console.log(`  ${name.padEnd(16)} ${mb(atStart[i]!).padStart(10)} ${mb(atWarm[i]!).padStart(14)} ${mb(atEnd[i]!).padStart(10)} ${pct(atWarm[i]!, atEnd[i]!).padStart(7)}   ${mb(h0).padStart(22)} ${mb(h1).padStart(10)} ${pct(h0, h1).padStart(7)}`);
    });
    // Where RSS sits besides the heap in use: V8's reserved heap, memory outside it (Buffers), the rest native.
    const lastReport = (pid: number, from: number, to: number): MemoryReport | undefined => reports.filter((r) => r.pid === pid && !r.after_gc && r.t >= from && r.t <= to).at(-1);
    names.forEach((name, i) => {
      const parts = (r: MemoryReport | undefined): string =>
        r === undefined ? 'no report' : `rss ${mb(r.rss)} = heap reserved ${mb(r.heap_total)} + external ${mb(r.external)} + other ${mb(r.rss - r.heap_total - r.external)}`;
      console.log(`  ${name.padEnd(16)} after warm-up: ${parts(lastReport(pids[i]!, warmGcAt + 1, warmGcAt + 1 + WINDOW_S))}; end: ${parts(lastReport(pids[i]!, endGcAt + 1, endGcAt + 1 + WINDOW_S))}`);
    });
    const entries = reports.filter((r) => r.pid === server.pid && !r.after_gc && r.replay_entries !== undefined);
    // Records that can still be live at t: those of checks allowed in rounds that ended after t - RECORD_S.
    const liveBound = (t: number): number => rounds.filter((x) => x.end > t - RECORD_S && x.end - ROUND_S <= t).reduce((a, x) => a + x.allowed, 0);
    const steady = entries.filter((r) => r.t >= WARMUP_S);
    const over = steady.filter((r) => r.replay_entries! > liveBound(r.t));
    if (steady.length === 0) console.log('  replay store entries: no reports (SOAK_CLI_MAIN names a build without them)');
    else {
      console.log(`  replay store entries in the primary, every ${REPORT_MS / 1000} s: ${entries.map((r) => r.replay_entries).join(' ')}`);
      const range = (xs: number[]): string => `${Math.min(...xs)}–${Math.max(...xs)}`;
      console.log(
        `  after the warm-up: ${range(steady.map((r) => r.replay_entries!))}; allowed checks whose records can still be live (sent in the ${RECORD_S} s before): ${range(steady.map((r) => liveBound(r.t)))}; entries above that: ${over.length} of ${steady.length} reports`,
      );
    }
    console.log(
      OTHER_BUILD === undefined
        ? `  RSS medians of the ${WINDOW_S} s after a forced full GC (--expose-gc, SIGUSR2) at ${Math.round(warmGcAt)} s and ${Math.round(endGcAt)} s; heap after those collections`
        : `  RSS medians of the ${WINDOW_S} s from ${Math.round(warmGcAt)} s and from ${Math.round(endGcAt)} s (SOAK_CLI_MAIN: no forced GC, so the windows fall anywhere in the collector's cycle)`,
    );
    const kindNames = Object.entries(ANSWER_KINDS).filter(([name, k]) => name !== 'allow' && (kinds[k] ?? 0) > 0).map(([name, k]) => `${name} ${kinds[k]}`);
    console.log(`  checks: ${allowed} allowed, ${bad} denied or failed${kindNames.length > 0 ? ` (${kindNames.join(', ')})` : ''} (target 0: ${bad === 0 ? 'PASS' : 'FAIL'})`);
    // The target is on RSS (issue 12); the heap after a full GC says whether a growth is held memory
    // or V8's reserved heap (the young generation grows and shrinks by several MB: docs/performance.md).
    console.log(`  heap after a full GC grew < ${TARGET_GROWTH * 100}% for every process: ${heapGrew ? 'FAIL' : 'PASS'}  (held memory; not the target)`);
    console.log(`  RSS growth after warm-up < ${TARGET_GROWTH * 100}% for every process: ${failed ? 'FAIL' : 'PASS'}  (the target)`);
    if (bad > 0) failed = true;
  } finally {
    clearInterval(sampler);
    await stop();
    await server.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

await main();
