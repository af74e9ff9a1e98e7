/**
 * Long-running commands (broker, echo, up): run until SIGINT or SIGTERM, then close what they
 * started and exit 0. A close that hangs does not keep the process alive forever.
 */
import type { Io } from './command.js';

export const FORCE_EXIT_AFTER_MS = 10_000;

export function untilSignal(io: Io, what: string, close: () => Promise<void>): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    io.err(`trustplane: ${signal}: stopping ${what}\n`);
    setTimeout(() => {
      io.err(`trustplane: ${what} did not stop within ${FORCE_EXIT_AFTER_MS} ms; exiting\n`);
      process.exit(1);
    }, FORCE_EXIT_AFTER_MS).unref();
    close().then(
      () => {
        process.exitCode = 0;
        // Whatever handle a library keeps open must not hold the process after a clean close.
        setTimeout(() => process.exit(0), 200).unref();
      },
      (e: unknown) => {
        io.err(`trustplane: stopping ${what} failed: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** `host:port` with a numeric port; used by echo and up. */
export function listenAddress(text: string, flag: string): string {
  if (!/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(text) || Number(text.slice(text.lastIndexOf(':') + 1)) > 65535) {
    throw new Error(`${flag} ${text} must be host:port, e.g. 127.0.0.1:8080`);
  }
  return text;
}
