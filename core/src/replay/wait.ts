/**
 * A bounded wait on a replay store's reply that tells a slow store from a busy server.
 *
 * Node runs expired timers before it polls sockets (libuv runs the timers phase, then the poll
 * phase: https://nodejs.org/en/learn/asynchronous-work/event-loop-timers-and-nexttick). After the
 * event loop was held up (CPU pressure, a long GC pause), a plain timeout therefore fires before a
 * reply that already sits in the socket buffer is read: the store answered in time, yet the check
 * would be denied as if it had not — and the command, which did run, consumed the jti. So when the
 * timer fires, the wait does not give up at once: it decides in a `setImmediate` callback, which
 * runs after the next poll phase, where a buffered reply is read and wins.
 *
 * If the reply is still missing then, the timer's own lateness says whose fault the wait was: a
 * timer that fired later than the whole wait lasted means most of the elapsed time was this
 * process's event-loop delay, and the outcome is `overloaded`; otherwise the store was given its
 * time and did not answer, and the outcome is `timeout`. Either way the command may still run
 * afterwards (docs/reason-codes.md, "Overload").
 */
import { performance } from 'node:perf_hooks';

export type WaitGaveUp = 'timeout' | 'overloaded';

/** Timer jitter below this is never called overload, however short the wait. */
const MIN_OVERLOAD_LATENESS_MS = 5;

/**
 * Resolves with `reply`'s value if it settles within `waitMs` (or is read in the poll phase right
 * after), otherwise with why the wait gave up. A rejection of `reply` within the wait is passed on.
 */
export function boundedWait<T>(reply: Promise<T>, waitMs: number): Promise<T | WaitGaveUp> {
  return new Promise<T | WaitGaveUp>((resolve, reject) => {
    let settled = false;
    const due = performance.now() + waitMs;
    const timer = setTimeout(() => {
      const lateMs = performance.now() - due;
      setImmediate(() => {
        if (settled) return;
        settled = true;
        resolve(lateMs > Math.max(waitMs, MIN_OVERLOAD_LATENESS_MS) ? 'overloaded' : 'timeout');
      });
    }, Math.max(0, waitMs));
    reply.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
