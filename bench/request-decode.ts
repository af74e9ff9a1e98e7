/**
 * What a check costs before the engine runs: CheckRequest bytes → request view, with proto-loader's
 * decoder for protos/ and the reference translation (test/support/request-view-reference.ts: how
 * the server read requests before it had its own reader) against the server's reader
 * (authz-server/src/envoy/check-request.ts). In-process and interleaved, so both sides see the same machine at the same
 * time: each round runs both over the same requests, the side that goes first alternating.
 *
 * Requests are the server bench's (bench/load-server.ts `presign`: Envoy-shaped, encoded with the
 * official definitions, headers map, raw_body). Figures are process CPU time (GC helper threads
 * included) per request, median over rounds; GC pause time is the sum of `gc` performance entries.
 *
 * `node dist/bench/request-decode.js` runs it alone; `npm run bench` runs it with the others.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { readCheckRequest } from '../authz-server/src/envoy/check-request.js';
import type { RequestViewSettings } from '../authz-server/src/envoy/request-view.js';
import { AuthorizationClientService } from '../dev/gateway/authz-client.js';
import { referenceRequestView } from '../test/support/request-view-reference.js';
import { generateSigningKey } from '../core/src/keys.js';
import { presign } from './load-server.js';

const REQUESTS = 1000;
const PASSES = 10;
const ROUNDS = 21;
const SETTINGS: RequestViewSettings = { bodyHeader: { trusted: false, name: 'x-trustplane-body-sha256' }, envoyBuffersBody: false };

type Read = (bytes: Buffer) => unknown;
const SIDES: ReadonlyArray<readonly [string, Read]> = [
  ['proto-loader', (bytes) => referenceRequestView(AuthorizationClientService['Check']!.requestDeserialize(bytes), SETTINGS)],
  ['direct', (bytes) => readCheckRequest(bytes, SETTINGS)],
];
/** Either side's result as the view (the reference wraps it in { ok, view }). */
const viewOf = (r: unknown): unknown => (typeof r === 'object' && r !== null && 'ok' in r && (r as { ok: boolean }).ok ? (r as unknown as { view: unknown }).view : r);

export interface RequestDecodeResult {
  readonly requests: number;
  readonly rounds: number;
  /** Median CPU µs per request, by side, bytes → view. */
  readonly viewUs: Readonly<Record<string, number>>;
  /** Median GC pause µs per request. */
  readonly gcUs: Readonly<Record<string, number>>;
}

/** GC pauses as [start, duration] in performance.now() time; entries arrive on a later timer turn. */
const pauses: Array<readonly [number, number]> = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) pauses.push([entry.startTime, entry.duration]);
});

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Run {
  readonly cpuUs: number;
  readonly from: number;
  readonly to: number;
}

function timed(items: readonly Buffer[], work: (bytes: Buffer) => unknown): Run {
  let sink = 0;
  const from = performance.now();
  const c0 = process.cpuUsage();
  for (let pass = 0; pass < PASSES; pass++) {
    for (const bytes of items) if (work(bytes) !== undefined) sink++;
  }
  const c = process.cpuUsage(c0);
  const to = performance.now();
  if (sink !== items.length * PASSES) throw new Error('a decode returned nothing');
  return { cpuUs: (c.user + c.system) / (items.length * PASSES), from, to };
}

/** GC pause µs per request during a run. */
function gcUsOf(run: Run, requests: number): number {
  let ms = 0;
  for (const [start, duration] of pauses) if (start >= run.from && start < run.to) ms += duration;
  return (ms * 1000) / requests;
}

export async function measureRequestDecode(requests = REQUESTS, rounds = ROUNDS): Promise<RequestDecodeResult> {
  const items = presign(generateSigningKey('EdDSA'), generateSigningKey('EdDSA'), requests).map((it) => it.bytes);
  // Both sides must read these requests the same way, or the comparison means nothing.
  for (const bytes of items.slice(0, 20)) {
    const [a, b] = SIDES.map(([, read]) => JSON.stringify(viewOf(read(bytes)), (_k, v: unknown) => (v instanceof Map ? [...v] : v)));
    if (a !== b) throw new Error('the two sides give different views of a bench request');
  }
  const runs = new Map<string, { view: Run[] }>(SIDES.map(([name]) => [name, { view: [] }]));
  observer.observe({ entryTypes: ['gc'] });
  try {
    for (let round = -2; round < rounds; round++) {
      const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
      for (const [name, read] of order) {
        const view = timed(items, read);
        if (round < 0) continue; // warm-up
        runs.get(name)!.view.push(view);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    observer.disconnect();
  }
  const n = items.length * PASSES;
  const samples = new Map(
    [...runs].map(([name, r]) => [name, { view: r.view.map((x) => x.cpuUs), gc: r.view.map((x) => gcUsOf(x, n)) }]),
  );
  const pick = (k: 'view' | 'gc'): Record<string, number> => Object.fromEntries([...samples].map(([name, s]) => [name, median(s[k])]));
  return { requests, rounds, viewUs: pick('view'), gcUs: pick('gc') };
}

export async function bench(): Promise<void> {
  const r = await measureRequestDecode();
  const us = (x: number): string => `${x.toFixed(2).padStart(6)} µs`;
  console.log(`request decode: CheckRequest bytes → request view, in-process A/B (${r.requests} bench requests × ${PASSES} passes, median of ${r.rounds} rounds, CPU per request)`);
  for (const [name] of SIDES) {
    console.log(`  ${name.padEnd(13)} bytes → view ${us(r.viewUs[name]!)}   GC pauses ${us(r.gcUs[name]!)}`);
  }
  console.log(`  ratio direct / proto-loader  ${(r.viewUs['direct']! / r.viewUs['proto-loader']!).toFixed(3)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await bench();
