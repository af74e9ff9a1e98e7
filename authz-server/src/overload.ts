/**
 * Load shedding for the Check handler (docs/reason-codes.md, "Overload"). Envoy sends its ext_authz
 * timeout as `grpc-timeout`; grpc-js turns it into the call's deadline. A check is answered `overloaded` at once, without a
 * signature checked or the store touched, when less than `answerMarginMs` of that deadline is left
 * on arrival (Envoy has given up, or is about to) or when `maxInFlight` checks are already being
 * handled; otherwise the deadline less the margin bounds the wait on the replay store. What is left
 * is counted after this process's event-loop lag: grpc-js starts a call's deadline when it reads the
 * call's headers, so the time a check spent in socket buffers while the loop was busy is not
 * subtracted from it, and the lag is the measure of that time. And while the loop is saturated,
 * a check that already spent half its deadline before the handler saw it is shed too: shedding only
 * at the very end of the deadline leaves a queue as long as the deadline, and every answer late
 * (bench/overload.ts measured 2% goodput that way, and 110% of the closed-loop capacity with this
 * rule, 2 late answers of 3905, on a shared 2-core machine). Shedding costs a fraction of a
 * decision, so offered load past capacity keeps the decisions made near capacity instead of letting
 * every check grow late.
 */

export interface OverloadSettings {
  /** Checks handled at once by this process; one more is answered `overloaded`. */
  readonly maxInFlight: number;
  /** Time kept back from Envoy's deadline to send the answer, milliseconds. */
  readonly answerMarginMs: number;
}

export const OVERLOAD_DEFAULTS: OverloadSettings = Object.freeze({ maxInFlight: 256, answerMarginMs: 5 });

/** Period of the event-loop lag probe: a timer due this often that fires late when the loop is busy. */
const LAG_PROBE_MS = 10;
/** Lag above which the loop counts as saturated. */
const BUSY_LAG_MS = 10;
/** While saturated, a check that has used this share of its deadline before we saw it is shed. */
const SHED_USED_SHARE = 0.5;
/** Probe ticks per window of the longest time left seen (about 30 s). */
const WINDOW_TICKS = 3000;

export class OverloadGate {
  #inFlight = 0;
  #idle: (() => void)[] = [];

  readonly #maxInFlight: number;
  readonly #marginMs: number;
  /** When the lag probe is next due (performance.now()), and how late it fired last time. */
  #probeDue = performance.now() + LAG_PROBE_MS;
  #lastLagMs = 0;
  readonly #probe: NodeJS.Timeout;
  /**
   * The longest time left seen at arrival, this window and the last: close to the timeout Envoy
   * sends (grpc-js does not expose the header), so `full - left` estimates how long a check waited
   * before this process saw it.
   */
  #fullMs = 0;
  #windowMaxMs = 0;
  #ticks = 0;

  constructor(settings: OverloadSettings = OVERLOAD_DEFAULTS) {
    this.#maxInFlight = settings.maxInFlight;
    this.#marginMs = settings.answerMarginMs;
    this.#probe = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = now - this.#probeDue;
      this.#probeDue = now + LAG_PROBE_MS;
      if (++this.#ticks >= WINDOW_TICKS) {
        this.#ticks = 0;
        this.#fullMs = this.#windowMaxMs;
        this.#windowMaxMs = 0;
      }
    }, LAG_PROBE_MS);
    this.#probe.unref();
  }

  /**
   * How far behind the event loop is now: how late the probe fired last, or, while the loop is
   * still busy past the probe's due time, how long it has been overdue.
   */
  get eventLoopLagMs(): number {
    return Math.max(this.#lastLagMs, performance.now() - this.#probeDue);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Admits a check or sheds it. `deadline` is grpc-js's call deadline: a Date or Unix milliseconds,
   * Infinity when the client sent no grpc-timeout. Returns when the answer must be on its way
   * (performance.now() clock; Infinity without a deadline), counting the check as in flight until
   * release(); or undefined: shed, answer `overloaded` at once.
   */
  admit(deadline: Date | number): number | undefined {
    const rawMs = (typeof deadline === 'number' ? deadline : deadline.getTime()) - Date.now();
    const lagMs = this.eventLoopLagMs;
    const leftMs = rawMs - this.#marginMs - lagMs;
    let stale = false;
    if (rawMs !== Infinity) {
      if (rawMs > this.#windowMaxMs) this.#windowMaxMs = rawMs;
      // Saturated: the queue in front of us is long; serve the checks that can still be answered in
      // time and shed those that already spent most of their deadline waiting (their answer would be late).
      stale = lagMs > BUSY_LAG_MS && rawMs < Math.max(this.#fullMs, this.#windowMaxMs) * SHED_USED_SHARE;
    }
    if (leftMs <= 0 || stale || this.#inFlight >= this.#maxInFlight) return undefined;
    this.#inFlight++;
    return leftMs === Infinity ? Infinity : performance.now() + leftMs;
  }

  /** An admitted check has been answered. */
  release(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) for (const r of this.#idle.splice(0)) r();
  }

  /** Resolves once no admitted check is in flight (graceful shutdown). */
  drained(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops the lag probe (server shutdown). */
  close(): void {
    clearInterval(this.#probe);
  }
}
