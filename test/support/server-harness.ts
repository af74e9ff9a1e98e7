/**
 * Starting and stopping the real authz server: `startServer` in this process, or `trustplane server`
 * as a child process with a config file, ready once `/readyz` answers. Nothing is mocked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../authz-server/src/config.js';
import { createLogger } from '../../service/src/log.js';
import { startServer, type RunningServer, type StartOptions } from '../../authz-server/src/server.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { waitFor } from './clock.js';
import { REPO_ROOT } from './envoy-api.js';
import { freePort } from './redis-server.js';
import { httpGet } from './server-clients.js';
import type { TrustSetup } from './trust-setup.js';

export const CLI_MAIN = join(REPO_ROOT, 'dist', 'cli', 'src', 'main.js');

/** Fails (in a `before` hook) when the built CLI that spawnServerProcess runs is missing. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: build first (npx tsc -p .)`);
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly grpcAddress: string;
  readonly httpAddress: string;
  readonly configPath: string;
  /** Operational log lines (stderr) so far. */
  readonly log: string[];
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Starts `node dist/cli/src/main.js server --config <file>` with `config` (listen addresses are
 * filled with free loopback ports) and waits until `/readyz` answers 200.
 */
export async function spawnServerProcess(dir: string, config: Record<string, unknown>, opts: { name?: string; readyTimeoutMs?: number; nodeArgs?: string[]; cliMain?: string } = {}): Promise<ServerProcess> {
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const httpAddress = `127.0.0.1:${await freePort()}`;
  const configPath = join(dir, `${opts.name ?? 'server'}-${grpcAddress.split(':')[1]}.json`);
  writeFileSync(configPath, JSON.stringify({ ...config, listen: { grpc: grpcAddress, http: httpAddress } }, null, 2));
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cliMain ?? CLI_MAIN, 'server', '--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TRUSTPLANE_CONFIG: '' },
  });
  children.add(child);
  const log: string[] = [];
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    if (log.length < 5000) log.push(...lines);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async (graceMs = 15_000): Promise<number | string> => {
    if (!gone) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const proc: ServerProcess = { child, pid: child.pid!, grpcAddress, httpAddress, configPath, log, exited, stop };
  try {
    await waitFor(
      `${opts.name ?? 'server'} /readyz (log: ${log.slice(-5).join(' | ')})`,
      async () => {
        if (gone) throw new Error(`server exited early: ${log.slice(-10).join('\n')}`);
        return (await httpGet(httpAddress, '/readyz', 1000)).status === 200;
      },
      opts.readyTimeoutMs ?? 20_000,
      100,
    );
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return proc;
}

/** The server config every process test starts from (JSON is YAML too). */
export function baseConfig(t: TrustSetup, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bundle: { path: t.bundlePath, signing_keys: t.jwksPath, poll_interval_ms: 200 },
    audit: { sink: 'none' },
    log_level: 'warn',
    workers: 1,
    // No drain period on SIGTERM unless a test asks for one: stops stay quick.
    shutdown_drain_ms: 0,
    ...over,
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

export interface InProcessServer {
  readonly server: RunningServer;
  readonly grpcAddress: string;
  readonly httpAddress: string;
  /** Operational log lines (JSON), captured instead of written to stderr. */
  readonly log: string[];
}

/** `startServer` on 127.0.0.1:0 (gRPC and HTTP) with the setup's bundle; `over` is deep-merged into the config file. */
export async function startInProcess(t: TrustSetup, over: Obj = {}, start: Pick<StartOptions, 'store'> = {}): Promise<InProcessServer> {
  const file = deepMerge(
    {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
      bundle: { path: t.bundlePath, signing_keys: t.jwksPath, poll_interval_ms: 100 },
      audit: { sink: 'none' },
      workers: 1,
      log_level: 'debug',
      shutdown_grace_ms: 5000,
    },
    over,
  );
  const config = loadConfig({ file });
  const log: string[] = [];
  // A memory store that has forgotten nothing: these servers answer for a world whose passports
  // may predate the server (tests about amnesia build their own store, test/core/replay-amnesia.test.ts).
  const store = config.replay.store === 'memory' ? new MemoryReplayStore({ maxEntries: config.replay.memory.max_entries, generationStartMs: -Infinity }) : undefined;
  const server = await startServer(config, { logger: createLogger('debug', (line) => void log.push(line)), serveHttp: true, ...(store ? { store } : {}), ...start });
  return { server, grpcAddress: server.grpcAddress, httpAddress: server.httpAddress!, log };
}
