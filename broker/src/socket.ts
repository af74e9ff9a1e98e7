/**
 * Listening on a Unix domain socket that only the broker's user can use.
 *
 * Connecting to a Unix socket needs write permission on it, so its mode is the access control. The
 * socket is bound under a 0177 umask, so it is created 0600 with no moment at which it is
 * group- or world-accessible; then chmod and lstat confirm it before the broker reports ready.
 * A world-writable folder without the sticky bit is refused, because anyone could swap the socket
 * for their own. An existing socket file is removed only when nothing answers on it (a stale socket
 * of a previous run); any other file at the path is left alone and the start fails.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';

export class BrokerSocketError extends Error {
  readonly code = 'broker_socket_unusable';
  constructor(message: string) {
    super(message);
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

export async function listenUnix(server: Server, path: string): Promise<BoundSocket> {
  const dir = dirname(path);
  if (!statOrUndefined(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const d = lstatSync(dir);
  if (!d.isDirectory()) throw new BrokerSocketError(`${dir} is not a directory`);
  if ((d.mode & 0o002) !== 0 && (d.mode & 0o1000) === 0) {
    throw new BrokerSocketError(`${dir} is world-writable without the sticky bit; another user could replace the socket`);
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

  chmodSync(path, 0o600);
  const st = lstatSync(path);
  if (!st.isSocket() || (st.mode & 0o777) !== 0o600) {
    server.close();
    throw new BrokerSocketError(`${path} did not end up as a 0600 socket`);
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
