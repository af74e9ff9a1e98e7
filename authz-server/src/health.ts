/**
 * Readiness, shared by grpc.health.v1 on the gRPC port and /readyz on the HTTP port. Ready means
 * "can decide correctly": a verified bundle is loaded and the replay store answers. The store is
 * pinged in the background (never on the request path) and the result cached.
 */
import type { ReplayStore } from '../../core/src/server-api.js';
import { GrpcStatus, type GrpcCall, type GrpcServer } from './envoy/grpc-transport.js';
import { HEALTH_CHECK_PATH, HEALTH_WATCH_PATH, ServingStatus, readHealthRequest, writeHealthResponse, type HealthCheckRequest } from './envoy/services.js';

export const SERVICE_NAMES: readonly string[] = Object.freeze(['', 'envoy.service.auth.v3.Authorization']);

export class Readiness {
  #storeOk = false;
  #shuttingDown = false;
  #timer: NodeJS.Timeout | undefined;
  /** Each open Watch stream: its status sender → a function that ends it. */
  #watchers = new Map<(s: ServingStatus) => void, () => void>();
  #last: ServingStatus = ServingStatus.NOT_SERVING;

  constructor(
    private readonly hasBundle: () => boolean,
    private readonly store: ReplayStore,
    private readonly intervalMs = 1000,
  ) {}

  async start(): Promise<void> {
    await this.probe();
    this.#timer = setInterval(() => void this.probe(), this.intervalMs);
    this.#timer.unref();
  }

  async probe(): Promise<void> {
    try {
      this.#storeOk = await this.store.ping();
    } catch {
      this.#storeOk = false;
    }
    this.#publish();
  }

  /** Call after a bundle reload so watchers hear a change at once. */
  changed(): void {
    this.#publish();
  }

  /** Open Watch streams (each is dropped when its stream ends, however it ends). */
  get watching(): number {
    return this.#watchers.size;
  }

  get storeReachable(): boolean {
    return this.#storeOk;
  }

  /**
   * For /readyz: why a reachable store still refuses (e.g. a Redis eviction policy), and since
   * when it vouches for consumes (passports acceptable earlier are `replay_state_lost`).
   */
  storeDetail(): { replay_store_problem?: string; replay_generation_start?: string } {
    const problem = this.store.problem?.();
    const start = this.store.generationStartMs;
    return {
      ...(problem !== undefined ? { replay_store_problem: problem } : {}),
      // −∞: a store that never forgot (an offline or test store); nothing to show.
      ...(start !== undefined && Number.isFinite(start) ? { replay_generation_start: new Date(start).toISOString() } : {}),
    };
  }

  status(): ServingStatus {
    return !this.#shuttingDown && this.#storeOk && this.hasBundle() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  /** Graceful shutdown: report NOT_SERVING so load balancers drain us first. */
  shutdown(): void {
    this.#shuttingDown = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#publish();
  }

  #publish(): void {
    const s = this.status();
    if (s === this.#last) return;
    this.#last = s;
    for (const w of this.#watchers.keys()) w(s);
  }

  addToServer(server: GrpcServer): void {
    server.unary(HEALTH_CHECK_PATH, (call) => {
      const request = healthRequest(call);
      if (request === undefined) return;
      if (!SERVICE_NAMES.includes(request.service)) return call.fail(GrpcStatus.NOT_FOUND, `unknown service "${request.service}"`);
      call.reply(writeHealthResponse({ status: this.status() }));
    });
    server.serverStream(HEALTH_WATCH_PATH, (call) => {
      const request = healthRequest(call);
      if (request === undefined) return;
      // grpc.health.v1: an unknown service is SERVICE_UNKNOWN on a stream that stays open (until shutdown).
      const known = SERVICE_NAMES.includes(request.service);
      const send = known ? (status: ServingStatus): void => call.write(writeHealthResponse({ status })) : (): void => {};
      call.write(writeHealthResponse({ status: known ? this.status() : ServingStatus.SERVICE_UNKNOWN }));
      this.#watchers.set(send, () => call.end());
      call.onCancel(() => void this.#watchers.delete(send));
    });
  }

  /**
   * End open Watch streams with an OK status (grpc.health.v1: the client may reconnect and watch
   * again); the server's graceful shutdown would otherwise wait for them until its grace ran out.
   */
  closeWatchers(): void {
    const ends = [...this.#watchers.values()];
    this.#watchers.clear();
    for (const end of ends) end();
  }
}

/** The request, or undefined after answering INTERNAL for bytes that are not one (as grpc-js did). */
function healthRequest(call: GrpcCall): HealthCheckRequest | undefined {
  try {
    return readHealthRequest(call.request);
  } catch {
    call.fail(GrpcStatus.INTERNAL, 'error deserializing request');
    return undefined;
  }
}
