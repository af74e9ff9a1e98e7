/**
 * `socket_group`: real brokers on real sockets, and callers that really run as other users.
 *
 * The callers are child processes started with another uid and gid (only root may do that), running
 * an inline script that uses node:http alone, so they need no access to this repository.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startBroker, type RunningBroker } from '../../broker/src/broker.js';
import { parseBrokerConfig } from '../../broker/src/config.js';
import { BrokerSocketError } from '../../broker/src/socket.js';
import { generateSigningKey } from '../../core/src/keys.js';
import { AUDIENCE, otherRealGroup, verifyWithJwks } from './harness.js';
import { createLogger } from '../../service/src/log.js';

/** `nobody`; any uid other than root's would do, and it needs no passwd entry. */
const CALLER_UID = 65_534;
/** A gid that is neither the test group's nor the broker's. */
const OUTSIDER_GID = 54_321;

interface CallerResult {
  readonly uid: number;
  readonly gid: number;
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
}

const CALLER_SCRIPT = `
const http = require('node:http');
const who = { uid: process.getuid(), gid: process.getgid() };
const req = http.request({ socketPath: process.env.SOCK, method: 'POST', path: '/v1/passports', headers: { 'content-type': 'application/json' } }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (c) => (body += c));
  res.on('end', () => console.log(JSON.stringify({ ...who, status: res.statusCode, body })));
});
req.on('error', (e) => console.log(JSON.stringify({ ...who, error: e.code })));
req.end(process.env.BODY);
`;

function runAs(uid: number, gid: number, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { uid, gid, cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}: ${err}`))));
  });
}

const holder = generateSigningKey('EdDSA');

/** Asks for a software passport as uid/gid; the result says who the child really ran as. */
async function passportAs(uid: number, gid: number, socketPath: string): Promise<CallerResult> {
  const body = JSON.stringify({ audience: AUDIENCE, holder_jwk: holder.publicJwk });
  const r = JSON.parse(await runAs(uid, gid, ['-e', CALLER_SCRIPT], { SOCK: socketPath, BODY: body })) as CallerResult;
  assert.deepEqual([r.uid, r.gid], [uid, gid], 'the caller did not run as the uid and gid asked for');
  return r;
}

function assertIssued(r: CallerResult, broker: RunningBroker): void {
  assert.equal(r.status, 200, JSON.stringify(r));
  const claims = verifyWithJwks((JSON.parse(r.body!) as { passport: string }).passport, broker.jwks());
  assert.equal(claims.aud, AUDIENCE);
}

function modeAndGid(path: string): [string, number] {
  const st = lstatSync(path);
  return [(st.mode & 0o7777).toString(8), st.gid];
}

describe('broker socket_group', () => {
  const group = otherRealGroup();
  let dir: string;
  const quiet = { logger: createLogger('error', () => {}) };

  before(function () {
    if (process.getuid?.() !== 0) this.skip(); // starting callers as other users needs root
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-broker-group-'));
    chmodSync(dir, 0o711); // callers of other uids must get through the temp folder to the socket's
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes the socket 0660 of the named group, in a folder it creates 0710 for that group', async () => {
    const logs: Record<string, unknown>[] = [];
    const broker = await startBroker(parseBrokerConfig({ socket_path: join(dir, 'run', 'broker.sock'), socket_group: group.name }), { logger: createLogger('debug', (line) => void logs.push(JSON.parse(line) as Record<string, unknown>)) });
    try {
      assert.ok(lstatSync(broker.socketPath).isSocket());
      assert.equal(lstatSync(broker.socketPath).uid, 0);
      assert.deepEqual(modeAndGid(broker.socketPath), ['660', group.gid]);
      assert.deepEqual(modeAndGid(join(dir, 'run')), ['710', group.gid]);
      assert.equal(logs.find((l) => l.msg === 'broker_ready')?.socket_group, group.name);
    } finally {
      await broker.close();
    }
  });

  it('gives every folder it creates on the way to the group, so members can walk down to the socket', async () => {
    const broker = await startBroker(parseBrokerConfig({ socket_path: join(dir, 'a', 'b', 'broker.sock'), socket_group: group.name }), quiet);
    try {
      assert.deepEqual(modeAndGid(join(dir, 'a')), ['710', group.gid]);
      assert.deepEqual(modeAndGid(join(dir, 'a', 'b')), ['710', group.gid]);
      assertIssued(await passportAs(CALLER_UID, group.gid, broker.socketPath), broker);
    } finally {
      await broker.close();
    }
  });

  it('issues to a caller of another uid in the group, and refuses one outside it', async () => {
    const broker = await startBroker(parseBrokerConfig({ socket_path: join(dir, 'run', 'broker.sock'), socket_group: group.name }), quiet);
    try {
      assertIssued(await passportAs(CALLER_UID, group.gid, broker.socketPath), broker);
      assert.equal((await passportAs(CALLER_UID, OUTSIDER_GID, broker.socketPath)).error, 'EACCES');
    } finally {
      await broker.close();
    }
  });

  it('keeps non-members out by the socket mode alone, in a folder anyone may search', async () => {
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o711 });
    const broker = await startBroker(parseBrokerConfig({ socket_path: join(open, 'broker.sock'), socket_group: group.name }), quiet);
    try {
      assert.deepEqual(modeAndGid(open), ['711', process.getgid!()], 'an existing folder is left as it is');
      assert.equal((await passportAs(CALLER_UID, OUTSIDER_GID, broker.socketPath)).error, 'EACCES');
      assertIssued(await passportAs(CALLER_UID, group.gid, broker.socketPath), broker);
    } finally {
      await broker.close();
    }
  });

  it('takes a numeric gid that has no /etc/group entry', async () => {
    const broker = await startBroker(parseBrokerConfig({ socket_path: join(dir, 'run', 'broker.sock'), socket_group: OUTSIDER_GID }), quiet);
    try {
      assert.deepEqual(modeAndGid(broker.socketPath), ['660', OUTSIDER_GID]);
      assertIssued(await passportAs(CALLER_UID, OUTSIDER_GID, broker.socketPath), broker);
      assert.equal((await passportAs(CALLER_UID, group.gid, broker.socketPath)).error, 'EACCES');
    } finally {
      await broker.close();
    }
  });

  it('stays 0600 without socket_group: another uid is refused even with the broker’s own gid', async () => {
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o711 });
    const broker = await startBroker(parseBrokerConfig({ socket_path: join(open, 'broker.sock') }), quiet);
    const created = await startBroker(parseBrokerConfig({ socket_path: join(dir, 'run', 'broker.sock') }), quiet);
    try {
      assert.deepEqual(modeAndGid(broker.socketPath), ['600', process.getgid!()]);
      assert.deepEqual(modeAndGid(join(dir, 'run')), ['700', process.getgid!()]);
      assert.equal((await passportAs(CALLER_UID, process.getgid!(), broker.socketPath)).error, 'EACCES');
    } finally {
      await Promise.all([broker.close(), created.close()]);
    }
  });

  it('refuses an existing folder the group cannot search, naming both, and leaves no socket behind', async () => {
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o750 }); // group-searchable, but for root's group, not the socket's
    const path = join(closed, 'broker.sock');
    await assert.rejects(startBroker(parseBrokerConfig({ socket_path: path, socket_group: group.name }), quiet), (e: unknown) => {
      assert.ok(e instanceof BrokerSocketError);
      assert.equal(e.code, 'broker_socket_unusable');
      assert.equal(
        e.message,
        `${closed} (mode 0750, gid ${process.getgid!()}) cannot be searched by group ${group.name} (gid ${group.gid}), so its members could not reach the socket; ` +
          'give the folder to that group with mode 0710 or wider, or let the broker create it',
      );
      return true;
    });
    assert.throws(() => lstatSync(path), /ENOENT/);
    chownSync(closed, 0, group.gid);
    const ok = await startBroker(parseBrokerConfig({ socket_path: path, socket_group: group.name }), quiet);
    assert.deepEqual(modeAndGid(ok.socketPath), ['660', group.gid]);
    await ok.close();
  });

  it('fails the start naming the group when the broker’s user is neither root nor in it (EPERM)', async () => {
    // The broker runs as another user here: a copy of the compiled socket module (built-ins only) in
    // a folder that user owns, so the test does not depend on the repository being readable to it.
    const work = join(dir, 'as-nobody');
    mkdirSync(work, { mode: 0o700 });
    const module = join(work, 'socket.mjs');
    copyFileSync(fileURLToPath(new URL('../../broker/src/socket.js', import.meta.url)), module);
    mkdirSync(join(work, 'existing'), { mode: 0o711 });
    for (const p of [work, module, join(work, 'existing')]) chownSync(p, CALLER_UID, OUTSIDER_GID);
    const script = `
      const { listenUnix } = await import(process.env.MODULE);
      const { createServer } = await import('node:net');
      const { existsSync } = await import('node:fs');
      const out = {};
      for (const path of [process.env.EXISTING, process.env.MISSING]) {
        try {
          const bound = await listenUnix(createServer(), path, { gid: Number(process.env.GID), name: process.env.NAME });
          out[path] = { listening: bound.path };
        } catch (e) {
          out[path] = { name: e.name, code: e.code, message: e.message, left: existsSync(path) };
        }
      }
      console.log(JSON.stringify(out));
      process.exit(0);
    `;
    const existing = join(work, 'existing', 'broker.sock');
    const missing = join(work, 'missing', 'run', 'broker.sock');
    const out = JSON.parse(
      await runAs(CALLER_UID, OUTSIDER_GID, ['--input-type=module', '-e', script], {
        MODULE: pathToFileURL(module).href,
        EXISTING: existing,
        MISSING: missing,
        GID: String(group.gid),
        NAME: group.name,
      }),
    ) as Record<string, unknown>;
    const why = `EPERM, the broker's user is not a member of that group and is not root`;
    assert.deepEqual(out[existing], {
      name: 'BrokerSocketError',
      code: 'broker_socket_unusable',
      message: `cannot give ${existing} to group ${group.name} (gid ${group.gid}): ${why}`,
      left: false,
    });
    assert.deepEqual(out[missing], {
      name: 'BrokerSocketError',
      code: 'broker_socket_unusable',
      message: `cannot give ${join(work, 'missing')} to group ${group.name} (gid ${group.gid}): ${why}`,
      left: false,
    });
  });
});
