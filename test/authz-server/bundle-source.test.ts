import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleSource, type BundleReloadEvent, type BundleSourceOptions } from '../../authz-server/src/bundle-source.js';
import { BundleError, signBundle, type BundleDocument } from '../../core/src/bundle/index.js';
import { ordersBundle } from '../support/orders-bundle.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';

const SIGNER = generateSigningKey('EdDSA');
const STRANGER = generateSigningKey('EdDSA');
const ISSUER = generateSigningKey('ES256');
const NOW_S = Math.floor(Date.now() / 1000);

function bundle(serial: number, opts: { audience?: string; expiresAt?: number; signer?: SigningKey | null } = {}): BundleDocument {
  const doc = ordersBundle({ serial, issuedAt: NOW_S - 60, expiresAt: opts.expiresAt ?? NOW_S + 3600, issuerKey: ISSUER, ...(opts.audience ? { audience: opts.audience } : {}) });
  return opts.signer === null ? doc : signBundle(doc, opts.signer ?? SIGNER);
}

/** Replace the file the way `mv` and most deploy tools do: write a sibling, then rename over. */
async function replace(path: string, content: string | BundleDocument): Promise<void> {
  const tmp = `${path}.tmp-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  await rename(tmp, path);
}

/** The next reload event, or a rejection after `ms` so a missed change fails the test instead of hanging it. */
function nextEvent(source: BundleSource, ms = 5000): Promise<BundleReloadEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no reload event within ${ms} ms`));
    }, ms);
    const off = source.onReload((e) => {
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

describe('BundleSource', () => {
  let dir: string;
  let path: string;
  const sources: BundleSource[] = [];
  const open = async (extra: Partial<BundleSourceOptions> = {}): Promise<BundleSource> => {
    const s = await BundleSource.open({ path, signingKeys: [SIGNER.publicJwk], debounceMs: 20, pollIntervalMs: 200, ...extra });
    sources.push(s);
    return s;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tp-bundle-source-'));
    path = join(dir, 'bundle.json');
  });

  afterEach(async () => {
    for (const s of sources.splice(0)) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('at start', () => {
    it('loads and verifies the bundle, and reports its age from issued_at', async () => {
      await replace(path, bundle(1));
      const seen: BundleReloadEvent[] = [];
      const s = await open({ onReload: (e) => seen.push(e) });
      assert.equal(s.current()?.serial, 1);
      assert.equal(s.current()?.route('orders')?.audience, 'orders-api');
      const age = s.ageSeconds()!;
      // issued_at is 60 s before this file was loaded, which on a busy machine can be a while ago.
      const expected = Math.floor(Date.now() / 1000) - (NOW_S - 60);
      assert.ok(age >= 60 && age <= expected && age >= expected - 2, `${age}, expected about ${expected}`);
      assert.equal(seen.length, 1);
      assert.deepEqual({ ...seen[0], sha256: undefined }, { ok: true, serial: 1, sha256: undefined, previousSerial: undefined });
    });

    it('throws a BundleError naming the file when the first load fails', async () => {
      const cases: Array<[string | BundleDocument | undefined, string]> = [
        [undefined, 'bundle_unreadable'],
        ['{"format": ', 'bundle_invalid'],
        [bundle(1, { signer: null }), 'bundle_unsigned'],
        [bundle(1, { signer: STRANGER }), 'bundle_signing_key_unknown'],
        [bundle(1, { expiresAt: NOW_S - 1 }), 'bundle_expired'],
      ];
      for (const [content, code] of cases) {
        await rm(path, { force: true });
        if (content !== undefined) await replace(path, content);
        await assert.rejects(open(), (e: unknown) => {
          assert.ok(e instanceof BundleError);
          assert.equal(e.code, code);
          assert.ok(e.problems[0]!.startsWith(`${path}: `), e.problems[0]);
          return true;
        });
      }
    });

    it('refuses a misconfigured signing key at construction with a TypeError', () => {
      assert.throws(() => new BundleSource({ path, signingKeys: [{ kty: 'OKP', crv: 'Ed25519', x: 'short' }] }), TypeError);
    });

    it('with startWithoutBundle, starts unready and picks up the first good file', async () => {
      const s = await open({ startWithoutBundle: true });
      assert.equal(s.current(), undefined);
      assert.equal(s.ageSeconds(), undefined);
      const event = nextEvent(s);
      await replace(path, bundle(3));
      assert.equal((await event).ok, true);
      assert.equal(s.current()?.serial, 3);
    });
  });

  describe('hot reload', () => {
    it('swaps to a good replacement and leaves the old compiled bundle intact for requests in flight', async () => {
      await replace(path, bundle(1));
      const s = await open();
      const before = s.current()!;
      const event = nextEvent(s);
      await replace(path, bundle(2, { audience: 'orders-api-v2' }));
      const e = await event;
      assert.ok(e.ok);
      assert.equal(e.serial, 2);
      assert.equal(e.previousSerial, 1);
      assert.equal(s.current()?.route('orders')?.audience, 'orders-api-v2');
      assert.equal(before.route('orders')?.audience, 'orders-api');
    });

    it('keeps the last good bundle when a replacement is corrupt, unsigned, tampered, expired or rolled back', async () => {
      await replace(path, bundle(5));
      const s = await open();
      const tampered = JSON.parse(JSON.stringify(bundle(6)));
      tampered.routes[0].audience = 'evil';
      const cases: Array<[string | BundleDocument, string]> = [
        ['{"format": "trustplane-bundle-v1", ', 'bundle_invalid'],
        [bundle(6, { signer: null }), 'bundle_unsigned'],
        [tampered, 'bundle_signature_invalid'],
        [bundle(6, { signer: STRANGER }), 'bundle_signing_key_unknown'],
        [bundle(6, { expiresAt: NOW_S - 1 }), 'bundle_expired'],
        [bundle(4), 'bundle_rollback'],
        [bundle(5, { audience: 'same-serial-other-content' }), 'bundle_rollback'],
      ];
      for (const [content, code] of cases) {
        const event = nextEvent(s);
        await replace(path, content);
        const e = await event;
        assert.deepEqual([e.ok, e.ok ? '' : e.code, e.ok ? 0 : e.serial], [false, code, 5], code);
        assert.equal(s.current()?.serial, 5);
        assert.equal(s.current()?.route('orders')?.audience, 'orders-api');
      }
      const good = nextEvent(s);
      await replace(path, bundle(6));
      assert.equal((await good).ok, true);
      assert.equal(s.current()?.serial, 6);
    });

    it('reports a file that stays broken once, and ignores a re-formatted copy of the bundle in use', async () => {
      await replace(path, bundle(1));
      const s = await open({ watch: false, pollIntervalMs: 0 });
      await replace(path, 'not json');
      const first = await s.reload();
      assert.equal(first?.ok, false);
      assert.equal(await s.reload(), undefined);
      await replace(path, JSON.stringify(bundle(1)));
      assert.equal(await s.reload(), undefined);
      assert.equal(s.current()?.serial, 1);
    });

    it('picks up a Kubernetes ConfigMap update (an atomic swap of the ..data symlink)', async () => {
      // The kubelet layout: bundle.json -> ..data/bundle.json, ..data -> ..<timestamp>/
      await mkdir(join(dir, '..v1'));
      await writeFile(join(dir, '..v1', 'bundle.json'), JSON.stringify(bundle(1)));
      await symlink('..v1', join(dir, '..data'));
      await symlink(join('..data', 'bundle.json'), path);
      const s = await open();
      assert.equal(s.current()?.serial, 1);

      const event = nextEvent(s);
      await mkdir(join(dir, '..v2'));
      await writeFile(join(dir, '..v2', 'bundle.json'), JSON.stringify(bundle(2)));
      await symlink('..v2', join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await rm(join(dir, '..v1'), { recursive: true });
      const e = await event;
      assert.ok(e.ok);
      assert.equal(s.current()?.serial, 2);
    });

    it('picks up an in-place write by polling when watching is off', async () => {
      await replace(path, bundle(1));
      const s = await open({ watch: false, pollIntervalMs: 25 });
      const event = nextEvent(s);
      await writeFile(path, JSON.stringify(bundle(2)));
      assert.equal((await event).ok, true);
      assert.equal(s.current()?.serial, 2);
    });
  });

  describe('expiry and restarts', () => {
    it('stops offering the bundle once it expires', async () => {
      let nowMs = Date.now();
      await replace(path, bundle(1, { expiresAt: NOW_S + 100 }));
      const s = await open({ clock: () => nowMs });
      assert.equal(s.current()?.serial, 1);
      nowMs = (NOW_S + 100) * 1000;
      assert.equal(s.current(), undefined);
      assert.equal(s.ageSeconds(), undefined);
    });

    it('persists the highest serial in stateFile and refuses an older bundle after a restart', async () => {
      const stateFile = join(dir, 'state.json');
      await replace(path, bundle(7));
      const first = await open({ stateFile });
      first.close();
      const state = JSON.parse(await readFile(stateFile, 'utf8'));
      assert.equal(state.serial, 7);
      assert.equal(state.sha256, first.current()?.sha256);

      await replace(path, bundle(6));
      await assert.rejects(open({ stateFile }), (e: unknown) => e instanceof BundleError && e.code === 'bundle_rollback');
      await replace(path, bundle(7, { audience: 'other' }));
      await assert.rejects(open({ stateFile }), (e: unknown) => e instanceof BundleError && e.code === 'bundle_rollback');
      await replace(path, bundle(7));
      assert.equal((await open({ stateFile })).current()?.serial, 7);
    });

    it('refuses to start with a damaged state file rather than drop rollback protection', async () => {
      const stateFile = join(dir, 'state.json');
      await writeFile(stateFile, '{"serial": "seven"}');
      await replace(path, bundle(7));
      await assert.rejects(open({ stateFile }), (e: unknown) => e instanceof BundleError && e.code === 'bundle_state_invalid');
    });
  });
});
