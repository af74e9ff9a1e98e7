/**
 * Runs the real CLI (`node dist/cli/src/main.js …`) as a child process: one-shot commands with a
 * bounded timeout, and long-running ones (up, broker, echo) that are stopped with SIGTERM and whose
 * exit code is awaited. Every child started here is killed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN } from '../support/server-harness.js';

export { CLI_MAIN };

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function cli(args: readonly string[], o: { cwd?: string; input?: string | Uint8Array; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: o.cwd ?? process.cwd(),
      env: { ...process.env, TRUSTPLANE_CONFIG: '', ...(o.env ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trustplane ${args.join(' ')} did not finish within ${o.timeoutMs ?? 20_000} ms; stderr: ${Buffer.concat(err).toString()}`));
    }, o.timeoutMs ?? 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(o.input ?? '');
  });
}

export interface LongRunning {
  readonly child: ChildProcess;
  /** The first stdout line (commands print their addresses there once ready). */
  readonly firstLine: string;
  stderr(): string;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/** Starts a command that runs until signalled and waits (bounded) for its first stdout line. */
export function spawnCli(args: readonly string[], o: { cwd?: string; readyTimeoutMs?: number } = {}): Promise<LongRunning> {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: o.cwd ?? process.cwd(), env: { ...process.env, TRUSTPLANE_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => void (stderr += c.toString('utf8')));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 12_000): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trustplane ${args.join(' ')} printed nothing within ${o.readyTimeoutMs ?? 20_000} ms; stderr: ${stderr}`));
    }, o.readyTimeoutMs ?? 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      const nl = stdout.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ child, firstLine: stdout.slice(0, nl), stderr: () => stderr, stop });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`trustplane ${args.join(' ')} exited (${code}) before it was ready; stderr: ${stderr}`));
    });
  });
}

export function tempDir(prefix = 'tp-cli-test-'): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
