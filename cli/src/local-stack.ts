/**
 * The one-machine stack behind `trustplane up` and `trustplane demo` (without --target): the authz
 * server, the broker, an echo upstream and the development gateway. The stack and the gateway are
 * development tooling in dev/ (docs/gateway.md), which the image does not ship; this module loads
 * them only when one of those commands runs, and says so in one line when they are not installed.
 */
import type { Logger } from '../../service/src/log.js';
import type { RunningServer } from '../../authz-server/src/server.js';
import type { DevState } from './dev-state.js';

export interface StackOptions {
  readonly stateDir?: string;
  readonly logger?: Logger;
  readonly gatewayListen?: string;
  readonly auditFile?: string;
}

/** What the CLI reads of a running stack; dev/stack.ts's LocalStack extends it. */
export interface LocalStackHandle {
  readonly state: DevState;
  readonly server: RunningServer;
  readonly gateway: { readonly url: string };
  readonly upstreamUrl: string;
  readonly brokerSocket: string;
  close(): Promise<void>;
}

// A string the compiler does not follow: the image build (tsconfig.build.json) must not reach dev/.
const STACK_MODULE: string = '../../dev/stack.js';

export async function startLocalStack(o: StackOptions = {}): Promise<LocalStackHandle> {
  let mod: { startLocalStack(o: StackOptions): Promise<LocalStackHandle> };
  try {
    mod = (await import(new URL(STACK_MODULE, import.meta.url).href)) as typeof mod;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error('the local stack (development gateway, dev/) is not part of this installation: run it from a source checkout, or use demo --target URL');
  }
  return mod.startLocalStack(o);
}
