/**
 * Load shedding for the Check handler (docs/reason-codes.md, "Overload"). The Check handler calls
 * admit() when the transport (envoy/grpc-transport.ts) hands it a check, and release() once an admitted check is answered.
 *
 * Three rules, each answered `overloaded` at once, without a signature checked or the store touched:
 *
 * 1. The deadline. Envoy sends its ext_authz timeout as `grpc-timeout`; the transport turns it into the
 *    call's deadline when it reads the call's headers. A check with less than `answerMarginMs` of it
 *    left, after this process's event-loop lag (the time it may have waited unseen in socket buffers
 *    while the loop was busy), is shed; otherwise the deadline less the margin and the lag bounds the
 *    wait on the replay store.
 * 2. Work per event-loop turn, while overloaded. Everything the server reads from its sockets in one
 *    poll phase reaches the handler in that same turn, and the server reads nothing more until the
 *    turn ends. If the handler decides every check it is given, a turn under overload lasts as long
 *    as its checks take, and checks queue behind the server's HTTP/2 flow-control window (the client
 *    holds their DATA; the server has read their headers, and their deadline runs) or in the kernel:
 *    bench/overload-diag.ts measured checks reaching the handler 85 ms (p90) after grpc-js (then the server's transport) read their
 *    headers, at most ~22 per turn, and the shed ones answered at about the deadline. So the gate
 *    tells overload from mere full use: the loop saturated (busy at least SATURATED_UTILISATION of
 *    the last SATURATION_WINDOW_MS) while every check reaching the handler in that window had
 *    already waited 5% of the deadline or more (STANDING_WAIT_SHARE; a standing queue, not a burst:
 *    the time since the transport read its headers, from the longest time left seen recently, plus the
 *    loop's lag). Once overloaded, and until the loop has idle time again, a turn decides checks for
 *    `turnBudgetMs` and sheds the rest of what it read: the socket is read again within a few
 *    milliseconds, the queue outside drains, and a shed check is answered within about two turns.
 *    A closed loop with many checks in flight saturates the loop too, but its checks do not wait:
 *    it is not shed.
 * 3. Work in flight: `maxInFlight` checks handled at once (those waiting on the replay store among
 *    them); one more is shed.
 *
 * A shed check still costs what HTTP/2, the gRPC framing, decoding it and answering it cost, about a fifth of
 * an allowed check; the overload section of `npm run bench` measures both, and the goodput ceiling
 * that ratio allows (docs/performance.md, "The overload section").
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface OverloadSettings {
  /** Checks handled at once by this process; one more is answered `overloaded`. */
  readonly maxInFlight: number;
  /** Time kept back from Envoy's deadline to send the answer, milliseconds. */
  readonly answerMarginMs: number;
  /** While overloaded (rule 2): milliseconds of one event-loop turn spent deciding before the rest is shed. */
  readonly turnBudgetMs?: number;
}

export const OVERLOAD_DEFAULTS: OverloadSettings = Object.freeze({ maxInFlight: 256, answerMarginMs: 5, turnBudgetMs: 4 });

/** Period of the event-loop probe: a timer due this often that fires late when the loop is busy. */
const LAG_PROBE_MS = 10;
/** The loop counts as saturated when it was busy this share of the last SATURATION_WINDOW_MS. */
export const SATURATED_UTILISATION = 0.9;
/** Probe ticks over which saturation and a standing queue are judged (50 ms). */
const SATURATION_TICKS = 5;
export const SATURATION_WINDOW_MS = LAG_PROBE_MS * SATURATION_TICKS;
/**
 * A standing queue: every check reaching the handler over the window had waited at least this share
 * of the full deadline (10 ms of Envoy's default 200 ms), and at least STANDING_WAIT_MIN_MS. A wait
 * that small against the deadline is no harm: a server whose checks have 2 s to live and that is
 * starved of CPU for 10 ms at a time is not shed (scripts/soak.ts saw that on a busy machine).
 */
export const STANDING_WAIT_SHARE = 0.05;
export const STANDING_WAIT_MIN_MS = 10;
/** Probe ticks per window of the longest time left seen (1 s; the estimate spans this window and the last). */
const FULL_WINDOW_TICKS = 100;

export class OverloadGate {
  #inFlight = 0;
  #idle: (() => void)[] = [];

  readonly #maxInFlight: number;
  readonly #marginMs: number;
  readonly #turnBudgetMs: number;
  /** When the lag probe is next due (performance.now()), and how late it fired last time. */
  #probeDue = performance.now() + LAG_PROBE_MS;
  #lastLagMs = 0;
  readonly #probe: NodeJS.Timeout;
  /** Event-loop utilisation samples of the last SATURATION_TICKS probe ticks, oldest first. */
  readonly #elu: EventLoopUtilization[] = [];
  /** The least wait of a check reaching admit() in each of the last SATURATION_TICKS ticks, and in this one. */
  readonly #minWaits: number[] = [];
  #tickMinWaitMs = Infinity;
  #overloaded = false;
  /**
   * The longest time left seen at arrival, this window and the last: close to the timeout Envoy
   * sends, so `full - left` is how long ago the transport read the
   * check's headers.
   */
  #fullMs = 0;
  #windowMaxMs = 0;
  #ticks = 0;
  /** When the first check of the current turn reached admit(); undefined between turns. */
  #turnStart: number | undefined;
  readonly #endTurn = (): void => {
    this.#turnStart = undefined;
  };

  constructor(settings: OverloadSettings = OVERLOAD_DEFAULTS) {
    this.#maxInFlight = settings.maxInFlight;
    this.#marginMs = settings.answerMarginMs;
    this.#turnBudgetMs = settings.turnBudgetMs ?? OVERLOAD_DEFAULTS.turnBudgetMs!;
    this.#elu.push(performance.eventLoopUtilization());
    this.#probe = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = now - this.#probeDue;
      this.#probeDue = now + LAG_PROBE_MS;
      const elu = performance.eventLoopUtilization();
      const since = this.#elu.length >= SATURATION_TICKS ? this.#elu.shift()! : this.#elu[0]!;
      const saturated = performance.eventLoopUtilization(elu, since).utilization >= SATURATED_UTILISATION;
      this.#elu.push(elu);
      if (this.#minWaits.length >= SATURATION_TICKS) this.#minWaits.shift();
      this.#minWaits.push(this.#tickMinWaitMs);
      this.#tickMinWaitMs = Infinity;
      // Enter on a standing queue (every tick of the window saw only checks that waited), stay while saturated.
      const standingMs = Math.max(STANDING_WAIT_MIN_MS, STANDING_WAIT_SHARE * Math.max(this.#fullMs, this.#windowMaxMs));
      const standing = this.#minWaits.length >= SATURATION_TICKS && Math.min(...this.#minWaits) >= standingMs && Math.max(...this.#minWaits) < Infinity;
      this.#overloaded = saturated && (this.#overloaded || standing);
      if (++this.#ticks >= FULL_WINDOW_TICKS) {
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
    // Not below 0: the interval timer can fire a little before the due time counted here.
    return Math.max(0, this.#lastLagMs, performance.now() - this.#probeDue);
  }

  /** Whether rule 2 applies: a standing queue while the loop is saturated. */
  get overloaded(): boolean {
    return this.#overloaded;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Admits a check or sheds it. `deadline` is the call's deadline from its grpc-timeout (GrpcCall's
   * `deadline`): Unix milliseconds, Infinity when the client sent none. Returns when the answer must be on its way
   * (performance.now() clock; Infinity without a deadline), counting the check as in flight until
   * release(); or undefined: shed, answer `overloaded` at once.
   */
  admit(deadline: number): number | undefined {
    const now = performance.now();
    if (this.#turnStart === undefined) {
      this.#turnStart = now;
      setImmediate(this.#endTurn);
    } else if (this.#overloaded && now - this.#turnStart >= this.#turnBudgetMs) return undefined;
    if (this.#inFlight >= this.#maxInFlight) return undefined;
    const rawMs = deadline - Date.now();
    const lagMs = this.eventLoopLagMs;
    let waitMs = lagMs;
    if (rawMs !== Infinity) {
      if (rawMs > this.#windowMaxMs) this.#windowMaxMs = rawMs;
      waitMs += Math.max(0, Math.max(this.#fullMs, this.#windowMaxMs) - rawMs);
    }
    if (waitMs < this.#tickMinWaitMs) this.#tickMinWaitMs = waitMs;
    const leftMs = rawMs - this.#marginMs - lagMs;
    if (leftMs <= 0) return undefined;
    this.#inFlight++;
    return leftMs === Infinity ? Infinity : now + leftMs;
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

  /** Stops the probe (server shutdown). */
  close(): void {
    clearInterval(this.#probe);
  }
}
