/**
 * Listening on a Unix domain socket that only the broker's user, or one configured group, can use.
 *
 * Connecting to a Unix socket needs write permission on it, so its mode is the access control. The
 * socket is bound under a 0177 umask, so it is created 0600 with no moment at which it is
 * group- or world-accessible. With a group, chown gives it to that group while it is still 0600 and
 * only then chmod opens it to 0660: the other order would open it, for a moment, to the broker's own
 * primary group. lstat then confirms mode and group before the broker reports ready.
 *
 * Callers also need search (x) permission on the socket's folder. Folders the broker creates are 0700,
 * or 0710 and owned by the group when one is set; an existing folder is never changed, but with a
 * group it must be searchable by that group or the start fails (a broker that is up while its callers
 * get EACCES is harder to diagnose than one that does not start). A world-writable folder without the
 * sticky bit is refused, because anyone could swap the socket for their own. An existing socket file
 * is removed only when nothing answers on it (a stale socket of a previous run); any other file at the
 * path is left alone and the start fails.
 *
 * This module imports nothing but Node built-ins (the config type is erased), so a test can run it
 * as another user from a copy.
 */
import { chmodSync, lchownSync, lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { SocketGroup } from './config.js';

export class BrokerSocketError extends Error {
  readonly code = 'broker_socket_unusable';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BrokerSocketError';
  }
}

export interface BoundSocket {
  readonly path: string;
  /** Removes the socket file if it is still the one this process created. */
  unlink(): void;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function describe(group: SocketGroup): string {
  return group.name === undefined ? `gid ${group.gid}` : `group ${group.name} (gid ${group.gid})`;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** lchown, so a symlink put in the socket's place is never followed to change another file. */
function giveToGroup(target: string, group: SocketGroup): void {
  try {
    lchownSync(target, -1, group.gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EPERM' ? "the broker's user is not a member of that group and is not root" : (err as Error).message;
    throw new BrokerSocketError(`cannot give ${target} to ${describe(group)}: ${code ?? 'error'}, ${why}`, { cause: err });
  }
}

/** Creates the missing folders down to `dir`: 0700, or 0710 and group-owned so callers can reach the socket. */
function createFolders(dir: string, group: SocketGroup | undefined): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!group || first === undefined) return;
  const created: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    created.unshift(p);
    if (p === first || dirname(p) === p) break;
  }
  for (const folder of created) {
    giveToGroup(folder, group);
    chmodSync(folder, 0o710);
  }
}

function searchableBy(st: Stats, gid: number): boolean {
  return (st.mode & 0o001) !== 0 || (st.gid === gid && (st.mode & 0o010) !== 0);
}

/**
 * Binds `server` to `path`. Without `group` the socket is 0600; with it, 0660 and owned by that group,
 * and a failing chown (EPERM when the broker's user is not in the group) fails the start.
 */
export async function listenUnix(server: Server, path: string, group?: SocketGroup): Promise<BoundSocket> {
  const dir = dirname(path);
  if (!statOrUndefined(dir)) createFolders(dir, group);
  const d = lstatSync(dir);
  if (!d.isDirectory()) throw new BrokerSocketError(`${dir} is not a directory`);
  if ((d.mode & 0o002) !== 0 && (d.mode & 0o1000) === 0) {
    throw new BrokerSocketError(`${dir} is world-writable without the sticky bit; another user could replace the socket`);
  }
  if (group && !searchableBy(d, group.gid)) {
    throw new BrokerSocketError(
      `${dir} (mode ${octal(d.mode)}, gid ${d.gid}) cannot be searched by ${describe(group)}, so its members could not reach the socket; ` +
        'give the folder to that group with mode 0710 or wider, or let the broker create it',
    );
  }

  const existing = statOrUndefined(path);
  if (existing) {
    if (!existing.isSocket()) throw new BrokerSocketError(`${path} exists and is not a socket; refusing to remove it`);
    if (await answers(path)) throw new BrokerSocketError(`${path} is in use by a running process`);
    unlinkSync(path);
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new BrokerSocketError(`cannot listen on ${path}: ${err.message}`));
    server.once('error', onError);
    // listen() binds synchronously for a pipe path, so the umask covers exactly that bind and no
    // asynchronous work of ours; it can only make files created meanwhile more private, never less.
    const old = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });

  const mode = group ? 0o660 : 0o600;
  let st: Stats;
  try {
    if (group) giveToGroup(path, group);
    chmodSync(path, mode);
    st = lstatSync(path);
    if (!st.isSocket() || (st.mode & 0o777) !== mode || (group && st.gid !== group.gid)) {
      throw new BrokerSocketError(`${path} did not end up as a ${octal(mode)} socket${group ? ` of ${describe(group)}` : ''}`);
    }
  } catch (err) {
    // Closing a listening pipe server also removes its socket file (libuv unlinks it).
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err instanceof BrokerSocketError ? err : new BrokerSocketError(`cannot set up ${path}: ${(err as Error).message}`, { cause: err });
  }
  const { ino, dev } = st;
  return {
    path,
    unlink(): void {
      const now = statOrUndefined(path);
      if (now && now.isSocket() && now.ino === ino && now.dev === dev) unlinkSync(path);
    },
  };
}
