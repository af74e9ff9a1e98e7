/**
 * A real `redis-server` for tests: its own process, its own loopback port, its own temp dir, no
 * persistence. Never the machine's Redis on 6379.
 *
 * `stop()` then `start()` brings the same server back on the same port, which is what outage tests
 * need (clients keep their configured address). `pause()`/`resume()` freeze the process with
 * SIGSTOP/SIGCONT: the socket stays open but nothing answers, the shape of a hung or partitioned
 * Redis that only a command timeout can catch.
 *
 * When the binary is missing, `redisOrSkip` skips the calling test, except under
 * `REQUIRE_REDIS=1` (CI), where a missing Redis is a failure and not a silent skip.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export type RespValue = string | number | null | RespValue[] | Error;

/** Absolute path of `redis-server` (`$REDIS_SERVER_BIN` or on `$PATH`), or null. */
export function findRedisServer(): string | null {
  const candidates = process.env.REDIS_SERVER_BIN
    ? [process.env.REDIS_SERVER_BIN]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'redis-server'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The binary, or skip the test (fail it under REQUIRE_REDIS=1). */
export function redisBinaryOrSkip(ctx: Mocha.Context): string {
  const bin = findRedisServer();
  if (bin !== null) return bin;
  const message = 'redis-server is not installed (set REDIS_SERVER_BIN or install it)';
  if (process.env.REQUIRE_REDIS === '1') throw new Error(`${message}; REQUIRE_REDIS=1 makes this a failure`);
  console.warn(`      skipped: ${message}`);
  ctx.skip();
  throw new Error('unreachable: mocha skip did not throw');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

export interface RedisServerOptions {
  /** Extra `--name value` arguments; keys without the dashes. */
  readonly config?: Readonly<Record<string, string>>;
  /** Run as a single-node Redis Cluster owning all 16384 slots. */
  readonly cluster?: boolean;
  /** Run in Sentinel mode (`--sentinel`); `config` then carries the `sentinel` directives. */
  readonly sentinel?: boolean;
}

const live = new Set<RedisServer>();
process.once('exit', () => {
  for (const server of live) server.kill();
});

export class RedisServer {
  readonly host = HOST;
  readonly port: number;
  readonly dir: string;
  readonly #bin: string;
  readonly #args: string[];
  readonly #cluster: boolean;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();

  private constructor(bin: string, port: number, dir: string, options: RedisServerOptions) {
    this.#bin = bin;
    this.port = port;
    this.dir = dir;
    this.#cluster = options.cluster === true;
    const config: Record<string, string> = {
      port: String(port),
      bind: HOST,
      save: '',
      appendonly: 'no',
      dir,
      logfile: path.join(dir, 'redis.log'),
      daemonize: 'no',
      // A lone cluster node does not know its own address unless told; clients need it in CLUSTER SLOTS.
      ...(this.#cluster ? { 'cluster-enabled': 'yes', 'cluster-config-file': path.join(dir, 'nodes.conf'), 'cluster-announce-ip': HOST } : {}),
      ...options.config,
    };
    // A config file, not argv: `save ""` survives exactly, whatever the Redis version's argv quoting.
    const file = path.join(dir, 'redis.conf');
    writeFileSync(file, Object.entries(config).map(([k, v]) => `${k} ${quote(v)}`).join('\n') + '\n');
    this.#args = options.sentinel === true ? [file, '--sentinel'] : [file];
  }

  /** Start a fresh server on a free port. */
  static async create(bin: string, options: RedisServerOptions = {}): Promise<RedisServer> {
    // The free port can be taken between probe and bind; a few tries make that race harmless.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'trustplane-redis-'));
      const server = new RedisServer(bin, await freePort(), dir, options);
      try {
        await server.start();
        return server;
      } catch (error) {
        lastError = error;
        await server.dispose();
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Start (again, on the same port) and wait until it answers PING. */
  async start(): Promise<void> {
    if (this.#child !== null) return;
    const child = spawn(this.#bin, this.#args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.dir });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    this.#child = child;
    live.add(this);
    let exitedEarly = false;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        exitedEarly = true;
        if (this.#child === child) this.#child = null;
        live.delete(this);
        resolve();
      });
      child.once('error', () => resolve());
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exitedEarly) throw new Error(`redis-server exited at start on port ${this.port}: ${stderr.trim()}`);
      try {
        if ((await this.command(['PING'], 500)) === 'PONG') {
          if (this.#cluster) await this.#assignAllSlots(deadline);
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(20);
    }
    this.kill();
    throw new Error(`redis-server on port ${this.port} did not answer PING within ${START_TIMEOUT_MS} ms`);
  }

  /** Graceful stop (SIGTERM), SIGKILL if it lingers. Resolves when the process is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill('SIGCONT'); // a paused server cannot handle SIGTERM
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Freeze the process: connections stay open, nothing answers. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Synchronous last resort for process exit. */
  kill(): void {
    this.#child?.kill('SIGKILL');
  }

  /** Stop and remove the temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One command over a fresh connection; the reply decoded from RESP2. */
  async command(args: readonly string[], timeoutMs = 2000): Promise<RespValue> {
    return respCommand(this.host, this.port, args, timeoutMs);
  }

  async #assignAllSlots(deadline: number): Promise<void> {
    const reply = await this.command(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
    if (reply !== 'OK') throw new Error(`CLUSTER ADDSLOTSRANGE: ${String(reply)}`);
    while (Date.now() < deadline) {
      const info = await this.command(['CLUSTER', 'INFO']);
      if (typeof info === 'string' && info.includes('cluster_state:ok')) return;
      await sleep(50);
    }
    throw new Error('single-node cluster did not reach cluster_state:ok');
  }
}

/** A Sentinel watching one master; `stop()`/`dispose()` handle both. */
export class RedisSentinel {
  readonly masterName = 'trustplane-test';
  private constructor(
    readonly master: RedisServer,
    readonly sentinel: RedisServer,
  ) {}

  static async create(bin: string): Promise<RedisSentinel> {
    const master = await RedisServer.create(bin);
    try {
      const sentinel = await startSentinel(bin, master, 'trustplane-test');
      return new RedisSentinel(master, sentinel);
    } catch (error) {
      await master.dispose();
      throw error;
    }
  }

  async dispose(): Promise<void> {
    await this.sentinel.dispose();
    await this.master.dispose();
  }
}

async function startSentinel(bin: string, master: RedisServer, name: string): Promise<RedisServer> {
  // Sentinel rewrites its config file, so it gets a config of its own in its own dir; the
  // RedisServer machinery (port probe, PING wait, stop) is reused with `sentinel` directives.
  return RedisServer.create(bin, {
    sentinel: true,
    config: {
      sentinel: `monitor ${name} ${master.host} ${master.port} 1`,
    },
  }).catch((error: unknown) => {
    throw new Error(`cannot start redis sentinel: ${String(error)}`);
  });
}

function quote(value: string): string {
  if (value === '') return '""';
  // Sentinel directives are several words and must stay unquoted.
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Minimal RESP2 client: enough for PING, CLUSTER and SENTINEL admin in tests. */
export function respCommand(host: string, port: number, args: readonly string[], timeoutMs: number): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no reply from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    function finish(error: Error | null, value?: RespValue): void {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    }
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseResp(buffer, 0);
      if (parsed !== undefined) finish(null, parsed.value);
    });
    socket.once('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
      socket.write(parts.join(''));
    });
  });
}

/** Parses one RESP2 value at `offset`; undefined when the buffer does not hold all of it yet. */
function parseResp(buf: Buffer, offset: number): { value: RespValue; end: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

/**
 * Writes the replay store's generation marker (core/src/replay/redis.ts) as if a generation had
 * begun at `startMs`: for tests whose world runs on a frozen or earlier clock and that are not
 * about amnesia. Returns the marker value.
 */
export async function seedGeneration(server: RedisServer, startMs = 0, prefix = 'trustplane:jti:'): Promise<string> {
  const marker = `${'0'.repeat(31)}1:${startMs}`;
  const reply = await server.command(['SET', `${prefix}generation`, marker]);
  if (reply !== 'OK') throw new Error(`SET generation marker: ${String(reply)}`);
  return marker;
}
