/**
 * Load shedding for the Check method (docs/reason-codes.md, "Overload"). The gate sees a check
 * three times: when the transport (envoy/grpc-transport.ts) has read its HEADERS, before any of its
 * message (admit); when its message is whole (enqueue), from when it is in flight; and when it is
 * about to be decided (start). Between the last two the check waits in the gate's run queue, which
 * decides checks in slices of one event-loop turn each.
 *
 * Rules, each answered `overloaded` at once, without a signature checked or the store touched:
 *
 * 1. The deadline. Envoy sends its ext_authz timeout as `grpc-timeout`; the transport turns it into
 *    the call's deadline when it reads the call's headers. A check with less than `answerMarginMs`
 *    of it left, after this process's event-loop lag (the time it may have waited unseen in socket
 *    buffers while the loop was busy), is shed, at its headers or when its turn to be decided comes;
 *    otherwise the deadline less the margin and the lag bounds the wait on the replay store.
 * 2. Work queued ahead, at the headers and again at the message. The checks queued and not yet
 *    started, times what one check costs this process's event loop (its busy time per check
 *    started, measured over at least COST_SAMPLE_CHECKS checks), is how long a check entering now
 *    would wait before it is decided. When that is more than QUEUE_SHARE of its own time left, the
 *    check is shed at its headers: its message is not parsed and the answer goes out in the same
 *    turn. The queue thus holds about a quarter of Envoy's deadline of work at most, whatever the
 *    offered load, so that the checks it admits can be decided in time, and what exceeds the
 *    capacity is answered within a turn of being read. (What that gives, measured, and what it
 *    does not: docs/performance.md, "Shedding at the HEADERS".)
 * 3. Work in flight: `maxInFlight` checks whose message is whole and that are not yet answered
 *    (those waiting on the replay store among them); one more is shed.
 *
 * The slices are what keeps shed answers fast. A check whose message completes while nothing is
 * queued is decided at once, in the turn that read it, until that turn has decided for a slice's
 * time (or as many checks as that time allows at the measured cost, and never fewer than it allows
 * at twice a decision's own time: OWN_COST_FACTOR); the rest is queued and decided in slices of the
 * same size, one per later turn, each after the loop has read its sockets again (new headers are
 * admitted or shed there, answers written). A slice is `sliceMs` (2 ms) while the gate is pressed
 * (it shed a check, or was calm and had to leave one for a later turn, in the last SHEDDING_MS), so
 * that no check waits unseen for long behind a run of decisions, in the kernel or behind HTTP/2
 * flow control; otherwise it is CALM_SLICE_MS, and a server below its capacity decides as it reads.
 * Checks are decided in the order their messages completed.
 *
 * A shed check still costs what HTTP/2, its headers and the `overloaded` answer cost; the overload
 * section of `npm run bench` measures it against an allowed check, and the goodput ceiling that
 * ratio allows (docs/performance.md, "The overload section").
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface OverloadSettings {
  /** Checks handled at once by this process; one more is answered `overloaded`. */
  readonly maxInFlight: number;
  /** Time kept back from Envoy's deadline to send the answer, milliseconds. */
  readonly answerMarginMs: number;
  /** While pressed (shedding, or queueing checks for later turns): milliseconds of one event-loop turn spent deciding before the loop reads its sockets again. */
  readonly sliceMs?: number;
}

export const OVERLOAD_DEFAULTS: OverloadSettings = Object.freeze({ maxInFlight: 256, answerMarginMs: 5, sliceMs: 2 });

/**
 * Rule 2: a check is shed at its headers when the work queued ahead of it would take more than
 * this share of its time left (50 ms of Envoy's default 200 ms). The rest of its time is for its
 * own decision, a wait on the replay store and the answer's way back. A closed loop of a few dozen
 * checks in flight queues well under it and is never shed.
 */
export const QUEUE_SHARE = 0.25;
/**
 * A slice while the gate has not been pressed (shed a check or queued one for a later turn) for
 * SHEDDING_MS. Deciding in slices costs a turn of
 * the event loop each (a socket poll, and the answers written in smaller batches): with 2 ms slices
 * all the time, the server's CPU per allowed check with 32 in flight was 1.068× that of the build
 * before slicing, against 0.947× with no slicing at all, 1.026× with 16 ms slices when calm and
 * 0.933× with 32 ms (docs/performance.md, "Shedding at the HEADERS"). Below its capacity a worker
 * has nothing to shed fast, so its slices are long; they still end, so that work past the capacity
 * shows as a queue (rule 2) instead of one ever longer turn.
 */
export const CALM_SLICE_MS = 32;
/**
 * After a shed, or a check a calm gate had to leave for a later turn, slices are `sliceMs` long for
 * this long. Leaving the calm on sheds alone let a server that met overload after a calm spell run
 * turns of 32 ms inline plus a 32 ms slice while its sockets filled, for half a second before its
 * first shed (docs/performance.md, "Leaving the calm"); a check queued is the first sign of it.
 */
export const SHEDDING_MS = 1000;
/** Period of the event-loop probe: a timer due this often that fires late when the loop is busy. */
export const PROBE_MS = 10;
/**
 * A slice decides at least as many checks as sliceMs allows at OWN_COST_FACTOR times a decision's
 * own time (from its slice's start to its answer, its promise continuations included). The busy
 * time per check started counts everything the loop does, sheds and socket reads among them, and
 * at few checks a turn a whole turn's worth per check: a count from it alone fed on itself down to
 * one check a turn (docs/performance.md, "A collapse"). A decision's own time does not carry the
 * turn around it. Twice it leaves room for what follows a decision out of its slice's sight (its
 * answer's bytes written by node:http2 in a later phase, the garbage it leaves): under a steady
 * overload the busy time per check started was 1.3–1.6 times a decision's own time. The floor is
 * one check once a decision's own time passes sliceMs / (2 × OWN_COST_FACTOR), 0.5 ms for 2 ms
 * slices, and on a machine that slow the gate can still settle at one check a turn
 * (docs/performance.md, "The second loop on a slower day").
 */
export const OWN_COST_FACTOR = 2;
/** Microtask hops a slice's measurement waits for its checks' continuations, at most (with the memory store, all were answered within 4). */
const DRAIN_HOPS = 32;
/** Weight of the newest slice in a decision's own time (an exponential moving average). */
const OWN_WEIGHT = 0.1;
/**
 * A sample of the busy time per check started spans probe ticks until it holds at least this many
 * checks (a tick that started none is left out of it). One garbage collection of 20–30 ms, or the first
 * turns after an idle spell, in a 10 ms tick of a few checks made a sample of several milliseconds
 * a check: the cost rose fivefold within half a second (0.59 to 3.17 ms), rule 2 counted 180 ms of
 * queued work and shed nearly every check, and the slices shrank to one or two checks
 * (docs/performance.md, "A collapse"). Over 64 checks such a pause adds about a third of a
 * millisecond a check.
 */
export const COST_SAMPLE_CHECKS = 64;
/** Weight of the newest sample in the cost per check (an exponential moving average). */
const COST_WEIGHT = 0.25;

export class OverloadGate<T> {
  /** Queued or started, not yet answered (or abandoned). */
  #inFlight = 0;
  /** In the run queue, not yet started. */
  #queued = 0;
  #started = 0;
  #idle: (() => void)[] = [];

  readonly #maxInFlight: number;
  readonly #marginMs: number;
  readonly #sliceMs: number;
  readonly #run: (item: T) => void;
  /** The run queue: #items[#head..] in order. */
  #items: T[] = [];
  #head = 0;
  #scheduled = false;
  /** When the turn reading the sockets decided its first check (undefined between turns), and how many more it may. */
  #turnStart: number | undefined;
  #turnMs = 0;
  #turnLeft = 0;
  /** Whether the turn reading the sockets began calm (its slice CALM_SLICE_MS long). */
  #turnCalm = false;
  /** When a check was last shed or queued for a later turn (performance.now()). */
  #pressedAt = -Infinity;
  readonly #endTurn = (): void => {
    this.#turnStart = undefined;
  };

  /** When the lag probe is next due (performance.now()), and how late it fired last time. */
  #probeDue = performance.now() + PROBE_MS;
  #lastLagMs = 0;
  readonly #probe: NodeJS.Timeout;
  /** At the last probe tick: the event loop's utilization, and #started. */
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #startedAtTick = 0;
  /** The cost's sample so far: busy milliseconds and checks started, of the ticks that started a check. */
  #sampleBusyMs = 0;
  #sampleChecks = 0;
  /** Event-loop busy milliseconds per check started; 0 until measured. */
  #costMs = 0;
  /** A decision's own milliseconds (#slice, #drain); 0 until measured. */
  #ownMs = 0;
  /** Checks released so far (start of a slice's measurement: how many of its checks are answered). */
  #released = 0;
  /** Checks taken from the run queue and not decided: shed at start() or dropped (abandon()). */
  #notDecided = 0;
  /** The slice being measured: its start, its checks, those of them decided, #released when it started, its last answer so far, hops left. */
  #drainFrom = 0;
  #drainChecks = 0;
  #drainDecided = 0;
  #drainReleased = 0;
  #drainLast = 0;
  #drainHops = 0;

  /** `run` decides one check taken from the run queue (after start()). */
  constructor(settings: OverloadSettings, run: (item: T) => void) {
    this.#maxInFlight = settings.maxInFlight;
    this.#marginMs = settings.answerMarginMs;
    this.#sliceMs = settings.sliceMs ?? OVERLOAD_DEFAULTS.sliceMs!;
    this.#run = run;
    this.#probe = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = now - this.#probeDue;
      this.#probeDue = now + PROBE_MS;
      // The sample is made of the ticks that started a check: the busy time of a tick that started
      // none (every check shed at its headers, /metrics scraped, a bundle reloaded) is no check's
      // cost, and is left out. Counting the busy time since the last sample instead, a few checks
      // left over from before such a spell carried all of it into the next sample; starting the
      // sample over at such a tick instead left a cost measured once standing for good where
      // checks come in bursts of fewer than COST_SAMPLE_CHECKS with idle ticks between them.
      const elu = performance.eventLoopUtilization();
      const tickChecks = this.#started - this.#startedAtTick;
      const tickBusyMs = elu.active - this.#elu.active;
      this.#elu = elu;
      this.#startedAtTick = this.#started;
      if (tickChecks === 0) return;
      this.#sampleBusyMs += tickBusyMs;
      this.#sampleChecks += tickChecks;
      if (this.#sampleChecks < COST_SAMPLE_CHECKS) return;
      const sample = this.#sampleBusyMs / this.#sampleChecks;
      this.#costMs = this.#costMs === 0 ? sample : this.#costMs + COST_WEIGHT * (sample - this.#costMs);
      this.#sampleBusyMs = 0;
      this.#sampleChecks = 0;
    }, PROBE_MS);
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

  /** Event-loop busy milliseconds per check, as last measured (0 before any). */
  get costMs(): number {
    return this.#costMs;
  }

  /** A decision's own milliseconds, its continuations included, as last measured (0 before any). */
  get ownMs(): number {
    return this.#ownMs;
  }

  /** How long a check entering now would wait before it is decided, by rule 2's estimate (milliseconds). */
  get queuedWorkMs(): number {
    return this.#queued * this.#costMs;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * At a check's headers, before its message. `deadline` is the call's deadline from its
   * grpc-timeout (GrpcCall's `deadline`): Unix milliseconds, Infinity when the client sent none.
   * True: let its message come; false: shed, answer `overloaded` at once. Nothing is counted for a
   * check until its message is whole (enqueue): a client that opens streams and sends nothing holds
   * no place in flight and adds no queued work, so it cannot make the gate shed other clients' checks.
   */
  admit(deadline: number): boolean {
    const leftMs = deadline - Date.now() - this.#marginMs - this.eventLoopLagMs;
    if (this.#inFlight < this.#maxInFlight && leftMs > 0 && this.#queued * this.#costMs <= QUEUE_SHARE * leftMs) return true;
    this.#pressedAt = performance.now();
    return false;
  }

  /**
   * A check's message is whole: the same rules again (its message may have come long after its
   * headers). True: it is in flight and queued, to be decided by `run` in a later slice, in order,
   * after start(); false: shed, answer `overloaded` at once.
   */
  enqueue(item: T, deadline: number): boolean {
    if (!this.admit(deadline)) return false;
    this.#inFlight++;
    this.#queued++;
    // Nothing queued before it and room left in this turn: decided now, as the message arrives.
    if (this.#head === this.#items.length && this.#turnRoom()) {
      this.#run(item);
      return true;
    }
    this.#items.push(item);
    // A calm gate is pressed by the first check it must leave for a later turn. A pressed one is
    // kept pressed by sheds only: its 2 ms turns leave checks for later by design, and a server
    // below its capacity that got pressed once (a burst, a pause) must go calm again. Calm is the
    // turn's, not the moment's: a check left by a turn that began pressed does not press the gate
    // again because the pressed second ended during that turn's short slice.
    const now = performance.now();
    if ((this.#turnStart === undefined || this.#turnCalm) && this.#calm(now)) this.#pressedAt = now;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#slice);
    }
    return true;
  }

  /** Whether the turn that reads the sockets may decide one more check (a slice of its own starts with the first). */
  #turnRoom(): boolean {
    const now = performance.now();
    if (this.#turnStart === undefined) {
      this.#turnStart = now;
      this.#turnCalm = this.#calm(now);
      this.#turnMs = this.#sliceLength(now);
      this.#turnLeft = this.#perSlice(this.#turnMs);
      setImmediate(this.#endTurn);
    } else if (now - this.#turnStart >= this.#turnMs) return false;
    return this.#turnLeft-- > 0;
  }

  /** How long a slice may decide: `sliceMs` while this gate is pressed, CALM_SLICE_MS otherwise. */
  #sliceLength(now: number): number {
    return this.#calm(now) ? CALM_SLICE_MS : this.#sliceMs;
  }

  /** Whether the gate is calm: nothing shed, nor left for a later turn by a calm turn, in the last SHEDDING_MS. */
  #calm(now: number): boolean {
    return now - this.#pressedAt >= SHEDDING_MS;
  }

  /**
   * Checks a slice of `ms` may decide at the measured busy time per check, but not fewer than
   * OWN_COST_FACTOR times a decision's own time allows (no bound before the busy time is measured).
   */
  #perSlice(ms: number): number {
    if (this.#costMs === 0) return Infinity;
    const floor = this.#ownMs > 0 ? Math.floor(ms / (OWN_COST_FACTOR * this.#ownMs)) : 1;
    return Math.max(1, floor, Math.floor(ms / this.#costMs));
  }

  /**
   * One slice: queued checks, in order, until the slice's time has passed or as many as it allows
   * at the measured cost per check. The count matters as much as the clock: a decision goes on
   * after this returns (its answer is written once the replay store's promise settles, in the same
   * turn for the memory store), and what the clock here sees is only the part before that.
   */
  readonly #slice = (): void => {
    const now = performance.now();
    const ms = this.#sliceLength(now);
    const end = now + ms;
    const items = this.#items;
    const released = this.#released;
    const notDecided = this.#notDecided;
    let left = this.#perSlice(ms);
    let ran = 0;
    do {
      const item = items[this.#head]!;
      items[this.#head++] = undefined as T;
      this.#run(item);
      ran++;
    } while (this.#head < items.length && --left > 0 && performance.now() < end);
    // What the slice's decisions cost until answered: measured once the continuations they queued
    // have run. A check shed or dropped when its turn came is no decision (its own time is a few µs).
    const decided = ran - (this.#notDecided - notDecided);
    if (decided > 0) {
      this.#drainFrom = now;
      this.#drainChecks = ran;
      this.#drainDecided = decided;
      this.#drainReleased = released;
      this.#drainLast = performance.now();
      this.#drainHops = DRAIN_HOPS;
      queueMicrotask(this.#drain);
    }
    if (this.#head < items.length) {
      setImmediate(this.#slice);
      return;
    }
    this.#items = [];
    this.#head = 0;
    this.#scheduled = false;
  };

  /**
   * One microtask hop of a slice's measurement: it ends when every check the slice ran has been
   * answered (their continuations ran before this hop) or after DRAIN_HOPS hops (a check waiting
   * on Redis, or on the primary's store, is answered in a later turn: its own time here is what
   * the slice saw). Either way, the slice's time to its last answer so far, per check decided.
   */
  readonly #drain = (): void => {
    if (--this.#drainHops > 0 && this.#released - this.#drainReleased < this.#drainChecks) {
      queueMicrotask(this.#drain);
      return;
    }
    this.#drainHops = 0;
    const sample = (this.#drainLast - this.#drainFrom) / this.#drainDecided;
    this.#ownMs = this.#ownMs === 0 ? sample : this.#ownMs + OWN_WEIGHT * (sample - this.#ownMs);
  };

  /**
   * A queued check is about to be decided. Returns when its answer must be on its way
   * (performance.now() clock; Infinity without a deadline), or undefined: its time ran out while it
   * was queued (rule 1), answer `overloaded` and release(). Either way it stays in flight until release().
   */
  start(deadline: number): number | undefined {
    this.#queued--;
    this.#started++;
    const leftMs = deadline - Date.now() - this.#marginMs - this.eventLoopLagMs;
    if (leftMs > 0) return leftMs === Infinity ? Infinity : performance.now() + leftMs;
    // A shed wherever it happens presses the gate (#sliceLength).
    this.#pressedAt = performance.now();
    this.#notDecided++;
    return undefined;
  }

  /** A queued check is dropped without a start (the client reset it, or its deadline ended it, while it was queued). */
  abandon(): void {
    this.#queued--;
    this.#notDecided++;
    this.release();
  }

  /** A started check has been answered. */
  release(): void {
    this.#released++;
    if (this.#drainHops > 0) this.#drainLast = performance.now();
    this.#inFlight--;
    if (this.#inFlight === 0) for (const r of this.#idle.splice(0)) r();
  }

  /** Resolves once no check is in flight (graceful shutdown). */
  drained(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops the probe (server shutdown). */
  close(): void {
    clearInterval(this.#probe);
  }
}
