/**
 * The bundle the server decides with: loaded and verified at start, then watched and hot-reloaded.
 *
 * Rules (docs/bundle.md, "Hot reload"):
 * - A replacement is verified exactly like the first file (signature, time window, rollback against
 *   the bundle in use) and swapped in as one new CompiledBundle; a bad replacement never replaces the
 *   last good one, it is only reported.
 * - Change detection: fs.watch on the file's *directory*, because editors, `mv` and Kubernetes
 *   ConfigMap updates replace the file (a rename, or a swap of the `..data` symlink) rather than write
 *   into it, and a watch on the old inode would go silent. A stat poll backs it up for filesystems
 *   without inotify and for symlinks into other directories. Events are debounced; reloads never overlap.
 * - `current()` is undefined while no bundle is loaded and once the bundle in use has expired, so the
 *   server is not ready and denies with `bundle_unavailable` instead of deciding with stale trust.
 * - With `stateFile`, the highest accepted serial and its content hash survive restarts, so an older
 *   bundle mounted after a restart is still a rollback.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { compileBundle, BundleError, verifyBundle, parseJsonObject, sha256hex, importPublicJwk, type CompiledBundle, type BundleSourceErrorCode, type PublicJwk } from '../../core/src/server-api.js';

export interface BundleSourceOptions {
  readonly path: string;
  /** Bundle-signing public keys (by `kid`). */
  readonly signingKeys: readonly PublicJwk[];
  /** Development only: accept unsigned bundles. Signed ones are still checked. */
  readonly allowUnsigned?: boolean;
  /** JSON file recording the highest accepted serial and its sha256; created when missing. */
  readonly stateFile?: string;
  /** Stat poll period; 0 turns polling off. Default 2000. */
  readonly pollIntervalMs?: number;
  /** Quiet time after the last change event before reloading. Default 50. */
  readonly debounceMs?: number;
  /** Set false where inotify does not work (some network filesystems); the poll then does all the work. */
  readonly watch?: boolean;
  /** Start even when the first load fails; the source keeps watching and `current()` stays undefined. */
  readonly startWithoutBundle?: boolean;
  /** Files larger than this are refused unread. Default 16 MiB. */
  readonly maxBytes?: number;
  /** Unix milliseconds. */
  readonly clock?: () => number;
  /** Same as calling `onReload(listener)` before `start()`: also sees the first load. */
  readonly onReload?: BundleReloadListener;
}

export type BundleReloadEvent =
  | { readonly ok: true; readonly serial: number; readonly sha256: string; readonly previousSerial: number | undefined; readonly stateError?: string }
  | { readonly ok: false; readonly code: BundleSourceErrorCode; readonly problems: readonly string[]; readonly serial: number | undefined };

export type BundleReloadListener = (event: BundleReloadEvent) => void;

interface Persisted {
  readonly serial: number;
  readonly sha256: string;
}

const DEFAULT_POLL_MS = 2000;
const DEFAULT_DEBOUNCE_MS = 50;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

export class BundleSource {
  private readonly opts: BundleSourceOptions;
  private readonly clock: () => number;
  private readonly listeners = new Set<BundleReloadListener>();
  private active: CompiledBundle | undefined;
  private persisted: Persisted | undefined;
  /** Hash of the last bytes read; identical bytes are not verified again. */
  private lastRawHash: string | undefined;
  private lastFailureKey: string | undefined;
  private lastFingerprint = '';
  /** Re-read on every poll even without a visible change: nothing loaded yet, or a bundle not yet valid. */
  private retry = true;
  private chain: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  /** Set by verifyOnce: the state file is read, never written. */
  private readOnly = false;

  constructor(opts: BundleSourceOptions) {
    if (typeof opts.path !== 'string' || opts.path === '') throw new TypeError('BundleSource: path is required');
    // A bad signing key is a configuration mistake: fail at construction, not on some later reload.
    for (const jwk of opts.signingKeys) importPublicJwk(jwk);
    this.opts = opts;
    this.clock = opts.clock ?? Date.now;
    if (opts.onReload) this.listeners.add(opts.onReload);
  }

  /** Constructs and starts: resolves once the first bundle is loaded (or refused, with `startWithoutBundle`). */
  static async open(opts: BundleSourceOptions): Promise<BundleSource> {
    const source = new BundleSource(opts);
    await source.start();
    return source;
  }

  /**
   * Reads and verifies the file exactly as `start()` does for the first load (state file, rollback,
   * signature, time window), without writing the state file or watching: `server --check-config`.
   * Throws a BundleError for a damaged state file, a TypeError/Error for a bad signing key.
   */
  static async verifyOnce(opts: BundleSourceOptions): Promise<BundleReloadEvent> {
    const source = new BundleSource({ ...opts, watch: false, pollIntervalMs: 0 });
    source.readOnly = true;
    if (opts.stateFile !== undefined) source.persisted = await readState(opts.stateFile);
    // The first check of a fresh source always produces an event (nothing was read before it).
    return (await source.check())!;
  }

  /** Loads the first bundle; throws a BundleError unless `startWithoutBundle`. Then starts watching. */
  async start(): Promise<void> {
    if (this.started) throw new TypeError('BundleSource: start() called twice');
    this.started = true;
    if (this.opts.stateFile !== undefined) this.persisted = await readState(this.opts.stateFile);
    const first = await this.reload();
    if (first && !first.ok && !this.opts.startWithoutBundle) {
      this.close();
      throw new BundleError(first.code, first.problems.map((p) => `${this.opts.path}: ${p}`));
    }
    this.lastFingerprint = await this.fingerprint();
    if (this.opts.watch !== false) this.startWatch();
    const every = this.opts.pollIntervalMs ?? DEFAULT_POLL_MS;
    if (every > 0) {
      this.pollTimer = setInterval(() => void this.poll(), every);
      this.pollTimer.unref();
    }
  }

  /** The verified bundle in use; undefined before the first good load and after it expires. */
  current(): CompiledBundle | undefined {
    const b = this.active;
    return b && Math.floor(this.clock() / 1000) < b.expiresAt ? b : undefined;
  }

  /** Seconds since the `issued_at` of the bundle in use (what freshness classes bound); undefined without one. */
  ageSeconds(): number | undefined {
    const b = this.current();
    return b ? Math.max(0, Math.floor(this.clock() / 1000) - b.issuedAt) : undefined;
  }

  /** Called after every swap and every refused replacement (once per distinct file content). */
  onReload(listener: BundleReloadListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Reads and verifies the file now (after any reload in progress). Resolves to the event it
   * produced, or undefined when the file holds the same bytes as last time.
   */
  reload(): Promise<BundleReloadEvent | undefined> {
    const next = this.chain.then(() => this.check());
    this.chain = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async check(): Promise<BundleReloadEvent | undefined> {
    const read = await this.read();
    if (!read.ok) {
      this.retry = true;
      return this.failed('bundle_unreadable', [read.problem], `unreadable:${read.problem}`);
    }
    const rawHash = sha256hex(read.bytes);
    if (rawHash === this.lastRawHash) return undefined;

    const active = this.active;
    const r = verifyBundle(read.bytes, {
      signingKeys: this.opts.signingKeys,
      allowUnsigned: this.opts.allowUnsigned === true,
      now: Math.floor(this.clock() / 1000),
      ...(this.persisted ? { minSerial: this.persisted.serial } : {}),
      ...(active ? { current: { serial: active.serial, sha256: active.sha256 } } : this.persisted ? { current: this.persisted } : {}),
    });
    // A bundle issued slightly in the future becomes valid with time alone, so it is re-read until then.
    if (r.ok || r.code !== 'bundle_not_yet_valid') this.lastRawHash = rawHash;
    this.retry = !r.ok && (r.code === 'bundle_not_yet_valid' || !active);
    if (!r.ok) return this.failed(r.code, r.problems, `${r.code}:${rawHash}`);
    this.lastFailureKey = undefined;
    if (active && active.sha256 === r.sha256) return undefined;

    this.active = compileBundle(r.bundle);
    let stateError: string | undefined;
    if (this.opts.stateFile !== undefined && !this.readOnly && (!this.persisted || this.persisted.serial !== r.bundle.serial || this.persisted.sha256 !== r.sha256)) {
      try {
        await writeState(this.opts.stateFile, { serial: r.bundle.serial, sha256: r.sha256 });
        this.persisted = { serial: r.bundle.serial, sha256: r.sha256 };
      } catch (e) {
        stateError = `cannot write ${this.opts.stateFile}: ${(e as Error).message}`;
      }
    }
    return this.emit({
      ok: true,
      serial: r.bundle.serial,
      sha256: r.sha256,
      previousSerial: active?.serial,
      ...(stateError !== undefined ? { stateError } : {}),
    });
  }

  private failed(code: BundleSourceErrorCode, problems: readonly string[], key: string): BundleReloadEvent | undefined {
    // A file that stays broken is reported once, not on every poll.
    if (key === this.lastFailureKey) return undefined;
    this.lastFailureKey = key;
    return this.emit({ ok: false, code, problems, serial: this.active?.serial });
  }

  private emit(event: BundleReloadEvent): BundleReloadEvent {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure (a logger, a metric) must never stop the bundle from being served.
      }
    }
    return event;
  }

  private async read(): Promise<{ ok: true; bytes: Buffer } | { ok: false; problem: string }> {
    const max = this.opts.maxBytes ?? DEFAULT_MAX_BYTES;
    try {
      const st = await stat(this.opts.path);
      if (!st.isFile()) return { ok: false, problem: 'not a regular file' };
      if (st.size > max) return { ok: false, problem: `larger than ${max} bytes` };
      const bytes = await readFile(this.opts.path);
      return bytes.length > max ? { ok: false, problem: `larger than ${max} bytes` } : { ok: true, bytes };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { ok: false, problem: err.code ? `cannot read the file (${err.code})` : `cannot read the file (${err.message})` };
    }
  }

  private startWatch(): void {
    try {
      const w = watch(dirname(this.opts.path), { persistent: false }, () => this.schedule());
      // The directory may vanish (an unmounted volume): drop the watch and let the poll carry on.
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch {
      this.watcher = undefined;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      // check() reports failures as events; a rejection here would be a bug, never a reason to crash.
      if (!this.closed) this.reload().catch(() => undefined);
    }, this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    if (this.opts.watch !== false && !this.watcher) this.startWatch();
    const fp = await this.fingerprint();
    // stat follows symlinks, so a ConfigMap `..data` swap changes the inode seen here.
    if (fp !== this.lastFingerprint || this.retry) {
      this.lastFingerprint = fp;
      this.schedule();
    }
  }

  private async fingerprint(): Promise<string> {
    try {
      const s = await stat(this.opts.path, { bigint: true });
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch (e) {
      return `error:${(e as NodeJS.ErrnoException).code ?? 'unknown'}`;
    }
  }
}

async function readState(file: string): Promise<Persisted | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BundleError('bundle_state_invalid', [`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const o = parseJsonObject(text);
  // Failing closed: ignoring a damaged state file would silently drop rollback protection.
  if (!o || !Number.isSafeInteger(o.serial) || (o.serial as number) < 1 || typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) {
    throw new BundleError('bundle_state_invalid', [`${file}: must be {"serial": <positive integer>, "sha256": <64 hex digits>}`]);
  }
  return { serial: o.serial as number, sha256: o.sha256 };
}

/** Write-then-rename so a crash never leaves a half-written state file. */
async function writeState(file: string, state: Persisted): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
