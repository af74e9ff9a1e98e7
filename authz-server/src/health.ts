/**
 * Readiness, shared by grpc.health.v1 on the gRPC port and /readyz on the HTTP port. Ready means
 * "can decide correctly": a verified bundle is loaded and the replay store answers. The store is
 * pinged in the background (never on the request path) and the result cached.
 */
import * as grpc from '@grpc/grpc-js';
import type { ReplayStore } from '../../core/src/server-api.js';
import { HealthService, ServingStatus, type HealthCheckRequest, type HealthCheckResponse } from './envoy/services.js';

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

  addToServer(server: grpc.Server): void {
    server.addService(HealthService, {
      Check: (call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, cb: grpc.sendUnaryData<HealthCheckResponse>) => {
        if (!SERVICE_NAMES.includes(call.request.service ?? '')) {
          cb({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
          return;
        }
        cb(null, { status: this.status() });
      },
      Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        if (!SERVICE_NAMES.includes(call.request.service ?? '')) {
          call.write({ status: ServingStatus.SERVICE_UNKNOWN });
          return;
        }
        const send = (status: ServingStatus): void => void call.write({ status });
        send(this.status());
        this.#watchers.set(send, () => call.end());
        const stop = (): void => void this.#watchers.delete(send);
        call.on('cancelled', stop);
        call.on('close', stop);
      },
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
