/**
 * Prometheus metrics on the broker's own registry (never prom-client's global one, so several
 * brokers, or a broker and the authz server, can share a process). Label values are bounded: key
 * binding classes and the refusal registry, every series created at zero so dashboards see it.
 */
import { Counter, Registry } from 'prom-client';
import { BROKER_ERROR_CODES, type BrokerErrorCode } from './errors.js';
import type { KeyBinding } from '../../core/src/index.js';

/** `contentType` and `render` make it the metrics of an operations port (service/src/ops-http.ts). */
export interface BrokerMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  render(): Promise<string>;
  issued(keyBinding: KeyBinding): void;
  refused(reason: BrokerErrorCode): void;
}

export function createBrokerMetrics(): BrokerMetrics {
  const registry = new Registry();
  const issued = new Counter({
    name: 'trustplane_broker_issued_total',
    help: 'Passports issued, by the key-binding class they claim.',
    labelNames: ['key_binding'] as const,
    registers: [registry],
  });
  const refused = new Counter({
    name: 'trustplane_broker_refused_total',
    help: 'Passport requests refused, by error code.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const kb of ['software', 'attested_workload'] as const) issued.inc({ key_binding: kb }, 0);
  for (const code of BROKER_ERROR_CODES) refused.inc({ reason: code }, 0);
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    issued: (kb) => issued.inc({ key_binding: kb }),
    refused: (reason) => refused.inc({ reason }),
  };
}
