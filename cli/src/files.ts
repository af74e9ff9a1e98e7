/**
 * File and key handling shared by the subcommands. Every failure here is an Error whose message is
 * one line naming the flag, the file and the problem, because `main` prints exactly that.
 */
import { chmodSync, closeSync, existsSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { importPrivateJwk, parseKeySet, toPublicJwk, type SigningKey } from '../../core/src/keys.js';
import type { PublicJwk } from '../../core/src/types.js';
import { UsageError } from './args.js';
import type { Io } from './command.js';

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

function fsProblem(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return firstLine(e);
}

/** The file's text; `-` reads standard input. */
export function readText(path: string, what: string): string {
  return readBytes(path, what).toString('utf8');
}

export function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (e) {
    throw new Error(`${what} ${path === '-' ? '(stdin)' : path}: ${fsProblem(e)}`);
  }
}

export function readJson(path: string, what: string): unknown {
  const text = readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} ${path === '-' ? '(stdin)' : path}: not valid JSON (${firstLine(e)})`);
  }
}

/** YAML or JSON (JSON is YAML); duplicate keys are refused. */
export function readYamlOrJson(path: string, what: string): unknown {
  const text = readText(path, what);
  try {
    return parseYaml(text, { uniqueKeys: true }) ?? {};
  } catch (e) {
    throw new Error(`${what} ${path === '-' ? '(stdin)' : path}: not valid YAML/JSON (${firstLine(e)})`);
  }
}

/** A private JWK file (Ed25519 or P-256). */
export function readPrivateKey(path: string, what: string): SigningKey {
  const json = readJson(path, what);
  if (json !== null && typeof json === 'object' && (json as { d?: unknown }).d === undefined) {
    throw new Error(`${what} ${path}: a private JWK is needed, this one has no "d"`);
  }
  try {
    return importPrivateJwk(json);
  } catch (e) {
    throw new Error(`${what} ${path}: ${firstLine(e)}`);
  }
}

/** A public JWK (a private one is accepted and reduced to its public part), with `kid` and `alg` set. */
export function readPublicKey(path: string, what: string): PublicJwk {
  const json = readJson(path, what);
  return publicJwkOf(json, `${what} ${path}`);
}

export function publicJwkOf(json: unknown, where: string): PublicJwk {
  try {
    return toPublicJwk(json);
  } catch (e) {
    throw new Error(`${where}: ${firstLine(e)}`);
  }
}

/** Bundle-signing public keys: a JWKS (`{"keys": [...]}`) or one JWK. */
export function readSigningKeys(path: string, what = '--signing-keys'): PublicJwk[] {
  const json = readJson(path, what);
  try {
    return parseKeySet(json);
  } catch (e) {
    throw new Error(`${what} ${path}: ${firstLine(e)}`);
  }
}

/** Write via a sibling temporary file and rename, so a reader never sees a half-written file. */
export function writeAtomic(path: string, text: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot write ${path}: ${fsProblem(e)}`);
  }
}

/** Create a new file that must not exist yet (O_EXCL), e.g. a private key. */
export function writeNew(path: string, text: string, mode = 0o600): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') throw new Error(`${path} exists already; refusing to overwrite a key (remove it first)`);
    throw new Error(`cannot create ${path}: ${fsProblem(e)}`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, mode);
}

/** Where an output goes: `--out FILE`, `--in-place` (the input file), or standard output. */
export interface OutputTarget {
  readonly path?: string;
}

/**
 * Resolves `--out` / `--in-place` against the input path. Editing the input is refused unless
 * `--in-place` says so; `--in-place` with standard input is a usage error.
 */
export function outputTarget(input: string, out: string | undefined, inPlace: boolean): OutputTarget {
  if (inPlace) {
    if (out !== undefined) throw new UsageError('give --out FILE or --in-place, not both');
    if (input === '-') throw new UsageError('--in-place needs a file input, not standard input');
    return { path: input };
  }
  if (out === undefined || out === '-') return {};
  if (input !== '-' && samePath(input, out)) throw new UsageError(`--out ${out} is the input file; pass --in-place to replace it`);
  return { path: out };
}

function samePath(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return existsSync(b) ? real(a) === real(b) : resolve(a) === resolve(b);
}

export function emit(io: Io, target: OutputTarget, text: string, mode = 0o644): void {
  if (target.path === undefined) io.out(text);
  else writeAtomic(target.path, text, mode);
}

/** `90`, `90s`, `15m`, `12h`, `30d` → seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} must be a duration such as 300, 90s, 15m, 12h or 30d`);
  const n = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (n < 1) throw new UsageError(`${flag} must be at least 1 second`);
  return n;
}

export function parseIntFlag(text: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}`);
  return Number(text);
}

export function isoTime(unixS: number): string {
  return new Date(unixS * 1000).toISOString().replace('.000Z', 'Z');
}

/** "in 29d 23h" / "3h 2m ago". */
export function relative(unixS: number, nowS: number): string {
  const d = unixS - nowS;
  const a = Math.abs(d);
  const parts = a >= 86_400 ? [`${Math.floor(a / 86_400)}d`, `${Math.floor((a % 86_400) / 3600)}h`] : a >= 3600 ? [`${Math.floor(a / 3600)}h`, `${Math.floor((a % 3600) / 60)}m`] : [`${Math.floor(a / 60)}m`, `${a % 60}s`];
  return d >= 0 ? `in ${parts.join(' ')}` : `${parts.join(' ')} ago`;
}
