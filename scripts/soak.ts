/**
 * `npm run soak`: the server under steady load for a bounded time, and the memory of every one of
 * its processes (docs/performance.md, "Soak"). Not part of `npm test`.
 *
 * The real `trustplane server` runs with the default two workers and the memory replay store, so
 * the primary holds the store for both workers (authz-server/src/cluster.ts). The forked load
 * process of bench/load-server.ts sends signed checks at SOAK_RATE per second (default 300), each
 * with its own jti, in rounds of ROUND_S seconds, each round pre-signed just before it (proofs stay
 * fresh). Passports live PASSPORT_LIFETIME_S (default 20 s), so replay records (lifetime + the 30 s
 * clock tolerance) turn over several times within the run.
 *
 * It prints the RSS of the primary and of every worker at the start, after the warm-up (SOAK_WARMUP_S,
 * default 60 s, longer than a replay record lives) and at the end (SOAK_SECONDS in all, default 180),
 * and the growth from the warm-up to the end; the target is under 5% for every process. RSS moves by
 * several percent with each garbage collection, so "after warm-up" and "end" are medians of one
 * sample a second over 30 s (the 30 s after the warm-up, the last 30 s). Exit code 1 when any
 * process grew more, or any check failed.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportPrivateJwk } from '../core/src/keys.js';
import { spawnServerProcess } from '../test/support/server-harness.js';
import { benchTrust, type FromLoad, type ToLoad } from '../bench/load-server.js';

const env = (name: string, dflt: number): number => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const TOTAL_S = env('SOAK_SECONDS', 180);
const WARMUP_S = env('SOAK_WARMUP_S', 60);
const RATE = env('SOAK_RATE', 300);
const LIFETIME_S = env('PASSPORT_LIFETIME_S', 20);
const ROUND_S = 10;
const TARGET_GROWTH = 0.05;

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
  const dir = mkdtempSync(join(tmpdir(), 'tp-soak-'));
  const trust = benchTrust();
  const bundlePath = join(dir, 'bundle.json');
  const jwksPath = join(dir, 'signing.jwks.json');
  writeFileSync(bundlePath, JSON.stringify(trust.doc));
  writeFileSync(jwksPath, JSON.stringify({ keys: [trust.bundleSigner.publicJwk] }));
  const server = await spawnServerProcess(dir, {
    bundle: { path: bundlePath, signing_keys: jwksPath },
    replay: { store: 'memory' },
    audit: { sink: 'file', file: join(dir, 'audit.jsonl') },
    log_level: 'warn',
    workers: 2,
    shutdown_drain_ms: 0,
  });
  const loadScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'load-server.js');
  const load = fork(loadScript, ['--load-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (m: ToLoad): Promise<FromLoad> =>
    new Promise((resolve, reject) => {
      load.once('message', (r: FromLoad) => (r.op === 'error' ? reject(new Error(r.message)) : resolve(r)));
      load.send(m);
    });
  let failed = false;
  const t0 = Date.now();
  try {
    const pids = [server.pid, ...childrenOf(server.pid)];
    const names = pids.map((p, i) => (i === 0 ? `primary ${p}` : `worker ${p}`));
    const sample = (): number[] => pids.map(rssOf);
    console.log(`soak: trustplane server, workers: 2, memory replay store in the primary; ${RATE} checks/s for ${TOTAL_S} s (warm-up ${WARMUP_S} s), passports of ${LIFETIME_S} s`);
    const atStart = sample();
    // One sample a second, with the time it was taken (seconds since the start).
    const samples: { t: number; rss: number[] }[] = [];
    const sampler = setInterval(() => samples.push({ t: (Date.now() - t0) / 1000, rss: sample() }), 1000);
    const medianOver = (from: number, to: number): number[] => {
      const inWindow = samples.filter((x) => x.t >= from && x.t <= to);
      return pids.map((_, i) => {
        const xs = inWindow.map((x) => x.rss[i]!).sort((a, b) => a - b);
        return xs[Math.floor(xs.length / 2)] ?? Number.NaN;
      });
    };
    let allowed = 0;
    let bad = 0;
    const keys = { issuerJwk: exportPrivateJwk(trust.issuerKey), holderJwk: exportPrivateJwk(trust.holder) };
    while ((Date.now() - t0) / 1000 < TOTAL_S) {
      const count = RATE * ROUND_S;
      // A new connection each round: the cluster hands whole connections to workers in turn.
      await ask({ op: 'init', address: server.grpcAddress, ...keys, count, lifetimeS: LIFETIME_S, timeoutMs: 2000 });
      const r = await ask({ op: 'open', ratePerS: RATE, count });
      if (r.op !== 'open') throw new Error('unexpected answer');
      allowed += r.allowed;
      bad += r.denied + r.errors;
    }
    clearInterval(sampler);
    const endS = (Date.now() - t0) / 1000;
    const atWarm = medianOver(WARMUP_S, WARMUP_S + 30);
    const atEnd = medianOver(endS - 30, endS);
    console.log(`  ${'process'.padEnd(16)} ${'start'.padStart(10)} ${'after warm-up'.padStart(14)} ${'end'.padStart(10)}  growth after warm-up (medians of 30 s)`);
    names.forEach((name, i) => {
      const growth = (atEnd[i]! - atWarm[i]!) / atWarm[i]!;
      if (!(growth < TARGET_GROWTH)) failed = true;
      console.log(`  ${name.padEnd(16)} ${mb(atStart[i]!).padStart(10)} ${mb(atWarm[i]!).padStart(14)} ${mb(atEnd[i]!).padStart(10)}  ${(growth * 100).toFixed(1)}%`);
    });
    console.log(`  checks: ${allowed} allowed, ${bad} denied or failed; target growth < ${TARGET_GROWTH * 100}% for every process: ${failed ? 'MISSED' : 'MET'}`);
    if (bad > 0) failed = true;
  } finally {
    if (load.connected) load.send({ op: 'exit' } satisfies ToLoad);
    await server.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

await main();
