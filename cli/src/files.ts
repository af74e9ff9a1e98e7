/**
 * File and key handling shared by the subcommands. Every failure here is an Error whose message is
 * one line naming the flag, the file and the problem, because `main` prints exactly that.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, lstatSync, openSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { importPrivateJwk, parseKeySet, toPublicJwk, type SigningKey, type PublicJwk } from '../../core/src/index.js';
import { firstLine, fsReason, parseYamlOrJson } from '../../service/src/config.js';
import { UsageError } from './args.js';
import type { Io } from './command.js';

/** The file's text; `-` reads standard input. */
export function readText(path: string, what: string): string {
  return readBytes(path, what).toString('utf8');
}

export function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (e) {
    throw new Error(`${what} ${path === '-' ? '(stdin)' : path}: ${fsReason(e)}`);
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
    return parseYamlOrJson(text) ?? {};
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

/**
 * One file a command writes. Every file the CLI writes goes through `writeOutputs`: no command
 * replaces a file it was not told it may replace (docs/cli.md, "Files a command writes").
 */
export interface Output {
  /** The option that named the file (`--out`, `--public-out`, `--capture`), or what the file is. */
  readonly flag: string;
  readonly path: string;
  readonly data: string | Uint8Array;
  /** 0600 for anything holding a private key or a passport. Applied at creation, before any byte is written. */
  readonly mode: number;
  /** The caller was told it may replace this file: `--force`, `--in-place`, or a file the command's contract re-issues. */
  readonly replace: boolean;
  /** With `--in-place`: the input option this output replaces (that input may be the same file). */
  readonly inPlaceOf?: string;
}

/** A file the command reads; no output may land on one (a key must never be overwritten by a result). */
export interface InputFile {
  readonly flag: string;
  readonly path: string;
}

/**
 * What a path would name once written: the real path through every symlink (a missing file's
 * directory resolved instead, and a dangling link followed to where it points), plus the
 * device and inode of an existing file so two hard links to one file are also one file.
 */
function identities(path: string): string[] {
  const abs = resolve(path);
  const out: string[] = [];
  try {
    out.push(realpathSync(abs));
    const st = statSync(abs);
    out.push(`inode:${st.dev}:${st.ino}`);
    return out;
  } catch {
    // missing, or a dangling symlink: fall through
  }
  let target = abs;
  for (let hops = 0; hops < 40; hops++) {
    try {
      target = resolve(dirname(target), readlinkSync(target));
    } catch {
      break;
    }
  }
  try {
    out.push(join(realpathSync(dirname(target)), basename(target)));
  } catch {
    out.push(target);
  }
  return out;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The checks every write makes before anything is written, so a refused command leaves no file
 * behind: two outputs (or an output and an input) resolving to one file are a usage error; an
 * existing file that may not be replaced is refused. Call it early, before slow work; `writeOutputs`
 * calls it again.
 */
export function checkOutputs(outputs: readonly Pick<Output, 'flag' | 'path' | 'replace' | 'inPlaceOf'>[], inputs: readonly InputFile[] = []): void {
  const seen = new Map<string, string>();
  for (const i of inputs) {
    if (i.path === '-') continue;
    for (const id of identities(i.path)) seen.set(id, `input ${i.flag}`);
  }
  for (const o of outputs) {
    for (const id of identities(o.path)) {
      const other = seen.get(id);
      if (other === undefined || other === `input ${o.inPlaceOf}`) continue;
      const what = other.startsWith('input ') ? other.slice('input '.length) : other;
      throw new UsageError(`${o.flag} ${o.path} is the same file as ${what}; give ${o.flag} another path`);
    }
    for (const id of identities(o.path)) seen.set(id, o.flag);
  }
  for (const o of outputs) {
    if (!o.replace && exists(o.path)) throw new Error(`${o.flag} ${o.path} exists already; refusing to replace it (pass --force to replace it)`);
  }
}

/**
 * Writes the outputs in order. A file that may not be replaced is created with O_EXCL (`wx`), so a
 * file appearing meanwhile is refused too; a replaceable one is written to a new sibling file and
 * renamed over the real path (through a symlink, to the file it names), so a reader never sees a
 * half-written file. If one write fails, the files this call created are removed again.
 */
export function writeOutputs(outputs: readonly Output[], inputs: readonly InputFile[] = []): void {
  checkOutputs(outputs, inputs);
  const created: string[] = [];
  for (const o of outputs) {
    try {
      if (o.replace) replaceFile(o);
      else {
        createFile(o.path, o.data, o.mode);
        created.push(o.path);
      }
    } catch (e) {
      for (const c of created) rmSync(c, { force: true });
      if ((e as { code?: string }).code === 'EEXIST') throw new Error(`${o.flag} ${o.path} exists already; refusing to replace it (pass --force to replace it)`);
      throw new Error(`cannot write ${o.flag} ${o.path}: ${fsReason(e)}`);
    }
  }
}

function createFile(path: string, data: string | Uint8Array, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeFileSync(fd, data);
    // The umask may have narrowed the mode; a private key must not be wider than asked either.
    fchmodSync(fd, mode);
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw e;
  }
  closeSync(fd);
}

function replaceFile(o: Output): void {
  let target = resolve(o.path);
  try {
    target = realpathSync(target);
  } catch {
    // not there yet: created under its own name
  }
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    createFile(tmp, o.data, o.mode);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Where an edit's result goes: `--out FILE`, `--in-place` (the input file), or standard output. */
export interface OutputTarget {
  readonly path?: string;
  readonly replace: boolean;
  readonly inPlace: boolean;
}

/**
 * Resolves `--out` / `--in-place` / `--force` against the input path, checking before any work
 * that the write will be allowed. Editing the input is refused unless `--in-place` says so;
 * `--in-place` with standard input is a usage error; an existing `--out` file needs `--force`.
 */
export function outputTarget(input: string, out: string | undefined, inPlace: boolean, force = false, inputs: readonly InputFile[] = []): OutputTarget {
  if (inPlace) {
    if (out !== undefined) throw new UsageError('give --out FILE or --in-place, not both');
    if (input === '-') throw new UsageError('--in-place needs a file input, not standard input');
    const t = { path: input, replace: true, inPlace: true };
    checkOutputs([{ flag: '--in-place', path: input, replace: true, inPlaceOf: '--bundle' }], [{ flag: '--bundle', path: input }, ...inputs]);
    return t;
  }
  if (out === undefined || out === '-') return { replace: false, inPlace: false };
  if (input !== '-' && identities(input).some((id) => identities(out).includes(id))) throw new UsageError(`--out ${out} is the input file; pass --in-place to replace it`);
  checkOutputs([{ flag: '--out', path: out, replace: force }], [...(input === '-' ? [] : [{ flag: '--bundle', path: input }]), ...inputs]);
  return { path: out, replace: force, inPlace: false };
}

export function emit(io: Io, target: OutputTarget, text: string, inputs: readonly InputFile[] = [], mode = 0o644): void {
  if (target.path === undefined) io.out(text);
  else {
    writeOutputs(
      [{ flag: target.inPlace ? '--in-place' : '--out', path: target.path, data: text, mode, replace: target.replace, ...(target.inPlace ? { inPlaceOf: '--bundle' } : {}) }],
      inputs,
    );
  }
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
