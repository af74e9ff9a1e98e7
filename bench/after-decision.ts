/**
 * CPU per decision of what the server does once a decision is made: `onDecision` (metrics and an
 * audit line to a file) and the CheckResponse bytes. Not part of `npm run bench`; run
 * it by hand when working on that path:
 *
 *   node dist/bench/after-decision.js                      this build alone
 *   node dist/bench/after-decision.js --compare ../other   this build (B) against another checkout's
 *                                                          build (A), interleaved in one process
 *
 * Decisions are real: bench requests (load-server.ts `presign`) decided once by a CheckService,
 * 10% of them replayed so `jti_replay` denies are mixed in; the same decisions then go through
 * each variant. `whole` hands the decisions over `--per-turn` at a time per event-loop turn (the
 * audit sink batches per turn), then waits for the audit file; the parts run in tight loops.
 * Figures are medians over rounds of process CPU (all threads, so the audit writes count).
 *
 * A server on the Redis store loads ioredis, and its `class VerbatimString extends String` makes
 * every `charCodeAt` loop in the process slower (a memory-store server never loads it: see
 * core/src/replay/redis.ts). `--ioredis` loads it here too, to measure that case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compileBundle } from '../core/src/bundle/compile.js';
import type { Decision } from '../core/src/types.js';
import { BENCH_ROUTE, benchCheckService, benchTrust, presign, untilPresignedValid } from './load-server.js';

/** The modules under test, from this build or another checkout's `dist/`. */
interface Variant {
  readonly name: string;
  readonly AuditSink: typeof import('../authz-server/src/audit-sink.js').AuditSink;
  readonly ServerMetrics: typeof import('../authz-server/src/metrics.js').ServerMetrics;
  /**
   * Decision → CheckResponse bytes (a build before authz-server/src/envoy/, commit 7fbb08e: build,
   * then encode; kept for --compare against such a base, e.g. 2cb6f08, as bench/allocations.ts).
   */
  readonly respond: (decision: Decision) => Buffer;
}

type Respond = (decision: Decision) => Buffer;

async function variant(name: string, distRoot: string): Promise<Variant> {
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(distRoot, path)).href)) as T;
  return {
    name,
    AuditSink: (await load<typeof import('../authz-server/src/audit-sink.js')>('authz-server/src/audit-sink.js')).AuditSink,
    ServerMetrics: (await load<typeof import('../authz-server/src/metrics.js')>('authz-server/src/metrics.js')).ServerMetrics,
    respond: await load<{ writeCheckResponse: Respond }>('authz-server/src/envoy/check-response.js').then(
      (m) => m.writeCheckResponse,
      async () => {
        const build = (await load<{ toCheckResponse: (d: Decision) => unknown }>('authz-server/src/translate/response.js')).toCheckResponse;
        const encode = (await load<{ encodeCheckResponseFast: (r: unknown) => Buffer }>('authz-server/src/response-codec.js')).encodeCheckResponseFast;
        return (d: Decision) => encode(build(d));
      },
    ),
  };
}

async function decisions(count: number): Promise<[Decision, number][]> {
  const { issuerKey, holder, doc } = benchTrust();
  const bundle = compileBundle(doc);
  const decided: [Decision, number][] = [];
  const check = benchCheckService(bundle, (decision, seconds) => void decided.push([decision, seconds]));
  const items = presign(issuerKey, holder, count);
  await untilPresignedValid();
  for (const item of items) await check.decide(item.bytes);
  const replays: [Decision, number][] = [];
  for (let i = 0; i < count / 10; i++) await check.decide(items[i]!.bytes);
  replays.push(...decided.splice(count));
  const odd = [...decided, ...replays].find(([d], i) => (i < decided.length ? !d.allow : d.reason !== 'jti_replay'));
  if (odd) throw new Error(`unexpected bench decision: ${odd[0].reason} (${odd[0].detail ?? ''})`);
  // One replay deny after every ten allows.
  return decided.flatMap((entry, i) => (i % 10 === 9 && replays[(i - 9) / 10] ? [entry, replays[(i - 9) / 10]!] : [entry]));
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { compare: { type: 'string' }, ioredis: { type: 'boolean' }, rounds: { type: 'string', default: '9' }, 'per-turn': { type: 'string', default: '8' } } });
  if (values.ioredis) await import('ioredis');
  const rounds = Number(values.rounds);
  const perTurn = Number(values['per-turn']);
  const here = resolve(new URL('..', import.meta.url).pathname);
  const variants = [...(values.compare ? [await variant('A', join(resolve(values.compare), 'dist'))] : []), await variant(values.compare ? 'B' : 'this', here)];
  const all = await decisions(2000);
  const dir = mkdtempSync(join(tmpdir(), 'tp-after-decision-'));
  try {
    const runs = await Promise.all(
      variants.map(async (v) => {
        const metrics = new v.ServerMetrics({ processMetrics: false });
        metrics.setBundle({ serial: 1, issuedAt: 0, routeIds: [BENCH_ROUTE] });
        const audit = await v.AuditSink.open({ sink: 'file', file: join(dir, `${v.name}.jsonl`) });
        let sink = 0;
        const parts: Record<string, () => void | Promise<void>> = {
          whole: async () => {
            for (let i = 0; i < all.length; i++) {
              const [d, s] = all[i]!;
              metrics.observeDecision(d, s);
              audit.write(d.audit);
              sink += v.respond(d).length;
              if (i % perTurn === perTurn - 1) await turn();
            }
            await audit.flush();
          },
          metrics: () => all.forEach(([d, s]) => metrics.observeDecision(d, s)),
          'audit line': () => all.forEach(([d]) => (sink += v.AuditSink.line(d.audit).length)),
          response: () => all.forEach(([d]) => (sink += v.respond(d).length)),
        };
        return { v, audit, parts, samples: new Map<string, number[]>(), sink: () => sink };
      }),
    );
    const cpuPerDecision = async (fn: () => void | Promise<void>): Promise<number> => {
      const c0 = process.cpuUsage();
      await fn();
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / all.length;
    };
    for (let round = -2; round < rounds; round++) {
      for (const run of round % 2 === 0 ? runs : [...runs].reverse()) {
        for (const [name, fn] of Object.entries(run.parts)) {
          let total = 0;
          for (let k = 0; k < 3; k++) total += await cpuPerDecision(fn);
          // Rounds -2 and -1 warm the JIT.
          if (round >= 0) (run.samples.get(name) ?? run.samples.set(name, []).get(name)!).push(total / 3);
        }
      }
    }
    console.log(`after-decision: ${all.length} decisions (${all.filter(([d]) => d.allow).length} allow), ${perTurn} per turn in "whole", medians of ${rounds} rounds, µs CPU per decision`);
    for (const name of Object.keys(runs[0]!.parts)) {
      const cells = runs.map((run) => `${run.v.name} ${median(run.samples.get(name)!).toFixed(2).padStart(7)}`);
      const ratio = runs.length === 2 ? `  B/A ${(median(runs[1]!.samples.get(name)!) / median(runs[0]!.samples.get(name)!)).toFixed(2)}` : '';
      console.log(`  ${name.padEnd(15)} ${cells.join('  ')}${ratio}`);
    }
    for (const run of runs) await run.audit.close();
    if (runs.some((run) => run.audit.dropped !== 0)) throw new Error('audit lines were dropped');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
