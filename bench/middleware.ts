/**
 * The middleware (docs/middleware.md) as a service would run it: a node:http server in its own
 * process with `trustplane(verifier)` in front of a handler that answers 200, the memory replay
 * store and audit to a file, as the server section runs. The load comes from this process over
 * HTTP/1.1 keep-alive connections, each request pre-signed with its own jti (the same requests the
 * server section signs: POST, bound content-type, a JSON body).
 *
 * CPU per allowed request: the middleware process's utime+stime across closed-loop rounds divided
 * by the allowed requests, the median of the rounds, printed beside the ext_authz server's CPU per
 * allowed check from the server section of the same run. The middleware skips gRPC, HTTP/2 framing
 * and the CheckRequest codecs, but pays for HTTP/1.1 parsing of the request itself.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Verifier, trustplane } from '../middleware/src/index.js';
import { BENCH_AUTHORITY, BENCH_BODY, BENCH_PATH, presign, writeBenchTrust } from './load-server.js';
import { cpuMsOf, lastServerCpuPerCheckMs } from './server.js';

const WARMUP = 6000;
const ROUNDS = 5;
const PER_ROUND = 3000;
const CONCURRENCY = 32;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The middleware process: `node dist/bench/middleware.js --middleware-server <dir>`. */
async function serve(dir: string): Promise<void> {
  const verifier = await Verifier.open({
    bundle: { path: join(dir, 'bundle.json'), signingKeys: join(dir, 'signing.jwks.json') },
    replay: { store: 'memory', max_entries: 1_000_000 },
    audit: { sink: 'file', file: join(dir, 'audit.jsonl') },
  });
  const mw = trustplane(verifier);
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => mw(req, res, () => res.end('ok')));
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
}

export async function bench(): Promise<void> {
  console.log('middleware: the verifier inside a node:http service (own process, memory replay store, audit to a file)');
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-mw-'));
  const { issuerKey, holder } = writeBenchTrust(dir);
  const child = fork(fileURLToPath(import.meta.url), ['--middleware-server', dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { port: number }));
      child.once('exit', (code) => reject(new Error(`middleware server exited (${code})`)));
    });
    const items = presign(issuerKey, holder, WARMUP + ROUNDS * PER_ROUND);
    let next = 0;
    const one = (): Promise<number> => {
      const it = items[next++]!;
      return new Promise((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: BENCH_PATH,
            agent,
            headers: {
              host: BENCH_AUTHORITY,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(BENCH_BODY),
              'x-trustplane-passport': it.passport,
              'x-trustplane-proof': it.proof,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(BENCH_BODY);
      });
    };
    const closed = async (count: number): Promise<number> => {
      let allowed = 0;
      let left = count;
      const worker = async (): Promise<void> => {
        while (left > 0) {
          left--;
          if ((await one()) === 200) allowed++;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return allowed;
    };
    if ((await closed(WARMUP)) !== WARMUP) throw new Error('middleware: not every warm-up request was allowed');
    const perRequest: number[] = [];
    const perS: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const before = cpuMsOf(child.pid!);
      const t0 = performance.now();
      const allowed = await closed(PER_ROUND);
      const wall = performance.now() - t0;
      const after = cpuMsOf(child.pid!);
      if (allowed !== PER_ROUND) throw new Error(`middleware: ${allowed} of ${PER_ROUND} allowed`);
      perRequest.push((after.user + after.system - before.user - before.system) / allowed);
      perS.push(allowed / (wall / 1000));
    }
    const cpu = median(perRequest);
    const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
    console.log(`  middleware CPU per allowed request        ${us(cpu)}  (utime+stime of the middleware process, median of ${ROUNDS} closed-loop rounds of ${PER_ROUND}, ${CONCURRENCY} in flight over HTTP/1.1 keep-alive; rounds ${us(Math.min(...perRequest))}–${us(Math.max(...perRequest))})`);
    if (lastServerCpuPerCheckMs !== undefined) {
      console.log(`  against the ext_authz server              ${(cpu / lastServerCpuPerCheckMs).toFixed(2)}× its CPU per allowed check (${us(lastServerCpuPerCheckMs)} in the server section of this run)`);
    }
    console.log(`  middleware requests/s                     ${Math.round(median(perS))}  (closed loop, one process)`);
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--middleware-server' && process.send !== undefined) void serve(process.argv[3]!);
