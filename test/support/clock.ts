/** The real clock in tests: passports dated for a freshly started server, whole seconds, polling. */

/**
 * Passport options for a server that started moments ago on the memory store or an empty Redis:
 * dated the clock tolerance ahead, the passport cannot have been accepted before the server's
 * replay generation began, so the amnesia guard lets it through (docs/configuration.md). `iat` is
 * in whole seconds: await `nextSecond()` after the start first.
 */
export function afterStart(toleranceS = 30): { nowMs: number } {
  return { nowMs: Date.now() + toleranceS * 1000 };
}

/** Resolves once the clock has entered the next whole second. */
export function nextSecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
}

/** Polls until `fn` returns true or `timeoutMs` passes; throws with `what` on timeout. */
export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
