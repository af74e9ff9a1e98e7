/**
 * Where an overloaded check's time goes (docs/performance.md, "The overload section"): a
 * diagnostic, not part of `npm run bench`. `node dist/bench/overload-diag.js [factor] [seconds]`.
 *
 * The server is the real server's transport (authz-server/src/envoy/grpc-transport.ts) and the
 * real CheckService with its overload gate (memory store, no audit), in its
 * own process; it registers the real Check method (CheckService.addToServer) with its admission and
 * handler wrapped to stamp, per check, the wall-clock times
 * (performance.timeOrigin + now(), shared by both processes on one machine) of
 * - the client's send (the `x-bench-sent-ms` header the load process adds),
 * - the transport reading the call's headers (its deadline less the grpc-timeout; 1 ms resolution),
 * - the admission at the HEADERS, or the handler once the message is whole, and the answer being
 *   handed to the transport (and where a shed check was shed: at its HEADERS, at its message, or
 *   when its turn came),
 * and counts the checks handled per event-loop turn (handler calls between two setImmediate
 * callbacks). The load process is bench/load-server.ts's, as the overload section uses it.
 *
 * TRUSTPLANE_BENCH_PIN=1 pins the server to CPU 0 and the load process to CPU 1 (taskset), and
 * TRUSTPLANE_BENCH_PIN=shared pins both to CPU 0. TRUSTPLANE_DIAG_WINDOW=<bytes> sets each HTTP/2
 * session's connection window (session.setLocalWindowSize; docs/performance.md, "The overload
 * section"), on the transport's node:http2 server.
 */
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileBundle } from '../core/src/bundle/compile.js';
import { exportPrivateJwk } from '../core/src/keys.js';
import type { GrpcCall } from '../authz-server/src/envoy/grpc-transport.js';
import { ANSWER_KINDS, answerKind, benchCheckService, benchTrust, loadProcess } from './load-server.js';
import { cpuMsOf, quantile } from './server.js';
import { DEADLINE_MS, pin } from './overload.js';

interface Report {
  sent: number[];
  headers: number[];
  admit: number[];
  answer: number[];
  shed: number[];
  turns: number[];
}

const f1 = (x: number): string => x.toFixed(1);
const dist = (xs: readonly number[]): string => `p50 ${f1(quantile(xs, 0.5))}  p90 ${f1(quantile(xs, 0.9))}  p99 ${f1(quantile(xs, 0.99))}  max ${f1(Math.max(...xs))}`;

async function main(): Promise<void> {
  const factor = Number(process.argv[2] ?? 1.5);
  const seconds = Number(process.argv[3] ?? 5);
  const pinMode = process.env['TRUSTPLANE_BENCH_PIN'] ?? '';
  const trust = benchTrust();
  const server = fork(fileURLToPath(import.meta.url), ['--diag-server'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, TRUSTPLANE_BENCH_DOC: JSON.stringify(trust.doc), TRUSTPLANE_BENCH_TIMEOUT_MS: String(DEADLINE_MS) },
  });
  const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
  const askServer = (op: string): Promise<Report> =>
    new Promise((resolve) => {
      server.once('message', (m: Report) => resolve(m));
      server.send({ op });
    });
  const load = loadProcess();
  if (pinMode === '1') {
    pin(server.pid!, 0);
    pin(load.pid, 1);
  } else if (pinMode === 'shared') {
    pin(server.pid!, 0);
    pin(load.pid, 0);
  }
  try {
    const address = `127.0.0.1:${port}`;
    const keys = { issuerJwk: exportPrivateJwk(trust.issuerKey), holderJwk: exportPrivateJwk(trust.holder) };
    await load.ask({ op: 'init', address, ...keys, count: 7000, timeoutMs: 10_000 });
    await load.ask({ op: 'closed', count: 4000, concurrency: 16 });
    const cap = await load.ask({ op: 'closed', count: 3000, concurrency: 32 });
    if (cap.op !== 'closed') throw new Error('unexpected answer');
    const capacity = cap.allowed / (cap.wallMs / 1000);
    const rate = Math.round(capacity * factor);
    const count = Math.round(rate * seconds);
    await load.ask({ op: 'init', address, ...keys, count, timeoutMs: DEADLINE_MS, stampSend: true, connections: Number(process.env['TRUSTPLANE_BENCH_CONNECTIONS'] ?? 1) });
    await askServer('reset');
    const cpu = (): number => {
      const c = cpuMsOf(server.pid!);
      return c.user + c.system;
    };
    const c0 = cpu();
    const w0 = performance.now();
    const r = await load.ask({ op: 'open', ratePerS: rate, count });
    const cpuMs = cpu() - c0;
    const wallMs = performance.now() - w0;
    if (r.op !== 'open') throw new Error('unexpected answer');
    const rep = await askServer('report');
    const good = r.kinds.filter((k, i) => k === ANSWER_KINDS.allow && r.sentLatencyMs[i]! <= DEADLINE_MS).length;
    const late = r.kinds.filter((k, i) => k === ANSWER_KINDS.error || r.sentLatencyMs[i]! > DEADLINE_MS).length;
    const lag = r.scheduledLatencyMs.map((s, i) => s - r.sentLatencyMs[i]!);
    console.log(`pin=${pinMode || 'none'}  capacity ${Math.round(capacity)}/s (closed, 32 in flight)  offered ${rate}/s × ${seconds} s`);
    console.log(`  goodput ${f1((100 * good) / (count / rate) / capacity)}% of capacity; late ${late}/${count}; shed ${rep.shed.filter((x) => x > 0).length}; server CPU ${f1((100 * cpuMs) / wallMs)}% of a core; allowed in time per server CPU-second ${Math.round(good / (cpuMs / 1000))}`);
    console.log(`  load process lag behind schedule (ms)      ${dist(lag)}`);
    for (const [name, want] of [['admitted', 0], ['shed at its headers', 1], ['shed when its message came', 2], ['shed when its turn came', 3]] as const) {
      const idx = rep.shed.flatMap((s, i) => (s === want ? [i] : []));
      if (idx.length === 0) continue;
      console.log(` ${name} (${idx.length}):`);
      console.log(`  send → transport reads headers (ms)      ${dist(idx.map((i) => rep.headers[i]! - rep.sent[i]!))}`);
      console.log(`  transport headers → handler (ms)         ${dist(idx.map((i) => rep.admit[i]! - rep.headers[i]!))}`);
      console.log(`  send → handler (ms)                       ${dist(idx.map((i) => rep.admit[i]! - rep.sent[i]!))}`);
      console.log(`  handler → answer handed to transport (ms) ${dist(idx.map((i) => rep.answer[i]! - rep.admit[i]!))}`);
      console.log(`  send → answer handed to transport (ms)   ${dist(idx.map((i) => rep.answer[i]! - rep.sent[i]!))}`);
    }
    console.log(`  checks per event-loop turn                 ${dist(rep.turns)}  (${rep.turns.length} turns)`);
  } finally {
    await load.stop();
    server.kill();
  }
}

async function diagServer(): Promise<void> {
  const { GrpcServer } = await import('../authz-server/src/envoy/grpc-transport.js');
  const bundle = compileBundle(JSON.parse(process.env['TRUSTPLANE_BENCH_DOC']!));
  const timeoutMs = Number(process.env['TRUSTPLANE_BENCH_TIMEOUT_MS']);
  const service = benchCheckService(bundle);
  let rep: Report = { sent: [], headers: [], admit: [], answer: [], shed: [], turns: [] };
  let inTurn = 0;
  const endTurn = (): void => {
    rep.turns.push(inTurn);
    inTurn = 0;
  };
  const now = (): number => performance.timeOrigin + performance.now();
  const server = new GrpcServer();
  // The real Check method's admission and handler, each wrapped to stamp its call and to tell where a shed one was shed.
  let phase: 'headers' | 'message' | 'later' = 'later';
  const index = new WeakMap<object, number>();
  const stamp = (call: GrpcCall): number => {
    let i = index.get(call);
    if (i === undefined) {
      i = rep.sent.length;
      index.set(call, i);
      rep.sent.push(Number(call.headers['x-bench-sent-ms']));
      rep.headers.push(call.deadline - timeoutMs);
    }
    return i;
  };
  service.addToServer({
    unary: (path, handler, admission) =>
      server.unary(
        path,
        (call) => {
          const i = stamp(call);
          rep.admit[i] = now();
          if (inTurn++ === 0) setImmediate(endTurn);
          phase = 'message';
          handler(watched(call, i));
          phase = 'later';
        },
        admission && {
          admit: (call) => {
            const i = stamp(call);
            rep.admit[i] = now();
            phase = 'headers';
            admission.admit(watched(call, i));
            phase = 'later';
          },
        },
      ),
  });
  /** The call, with its reply stamped: the answer's time, and where it was shed (at its headers, at its message, or when its turn came). */
  const watched = (call: GrpcCall, i: number): GrpcCall =>
    new Proxy(call, {
      get(target, key) {
        if (key === 'reply')
          return (response: Buffer) => {
            rep.answer[i] = now();
            rep.shed[i] = answerKind(response) === ANSWER_KINDS.overloaded ? (phase === 'headers' ? 1 : phase === 'message' ? 2 : 3) : 0;
            target.reply(response);
          };
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  const win = Number(process.env['TRUSTPLANE_DIAG_WINDOW'] ?? 0);
  if (win > 0) server.http2.on('session', (s) => s.setLocalWindowSize(win));
  void server.listen('127.0.0.1:0').then((port) => process.send!({ port }));
  process.on('message', (m: { op: string }) => {
    if (m.op === 'reset') rep = { sent: [], headers: [], admit: [], answer: [], shed: [], turns: [] };
    process.send!(rep);
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[2] === '--diag-server') void diagServer();
else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
