/** `trustplane request`: sign a request and send it, curl-like; `--count N` sends it N times, each signed anew. */
import { UsageError, bool, need, parseArgs, str } from '../args.js';
import type { Command, Io } from '../command.js';
import { checkOutputs, parseIntFlag, readPrivateKey } from '../files.js';
import { passportOutput, passportSupplier, REQUEST_FLAGS, REQUEST_USAGE, requestInputs, requestSpec, signSpec, type RequestSpec } from '../signing.js';

export const requestCommand: Command = {
  name: 'request',
  summary: 'sign a request and send it; print status, headers and body',
  usage: `trustplane request --holder-key FILE --route ID (--passport TOKEN|@FILE | --issuer-key FILE … | --broker SOCKET …)
                   [--reusable [--passport-out FILE [--force]]] [--count N]
                   [-X METHOD] [-H 'k: v']… [--bind-header NAME]… [--data STR | --data-file FILE|-]
                   [--timeout MS] [--json] URL

  Signs the request (a fresh passport per request with --issuer-key or --broker, one reusable
  passport for all with --reusable), sends it and prints the status line, the response headers and
  the body, like curl -i. Exits 1 when the status is not 2xx (a deny prints its x-trustplane-reason)
  or the server cannot be reached.
${REQUEST_USAGE}
  --count N               send the request N times (1-1000), one after another, each with its own
                          proof; stops at the first that is not 2xx. Over one passport, N > 1 needs
                          a reusable one (--reusable, or a reusable --passport)
  --timeout MS            give up on a request after this long (default 10000)
  --json                  print {status, headers: [[name, value], …], body} (body as text), one
                          line per request

  Example: trustplane request --broker /run/trustplane/broker.sock --audience https://api.example \\
             --holder-key holder.jwk --route payments-read https://api.example/v1/payments/42`,
  async run(argv, io) {
    const p = parseArgs(argv, { ...REQUEST_FLAGS, timeout: { type: 'string' }, count: { type: 'string' } });
    const spec = requestSpec(p);
    const count = parseIntFlag(str(p, 'count'), '--count', 1, 1000) ?? 1;
    const supply = passportSupplier(p);
    // Before a passport is asked for: a refused command has no side effect.
    checkOutputs(passportOutput(p), requestInputs(p));
    // One passport presented twice: the second request would be jti_replay. Refused before anything is sent.
    if (count > 1 && str(p, 'passport') !== undefined && !supply.reusable) {
      throw new UsageError(`--count ${count} needs a reusable passport; the --passport one has no "reusable": true claim (each request after the first would be jti_replay)`);
    }
    const timeoutMs = parseIntFlag(str(p, 'timeout'), '--timeout', 1, 600_000) ?? 10_000;
    const holder = readPrivateKey(need(p, 'holder-key'), '--holder-key');
    for (let i = 1; i <= count; i++) {
      const which = count > 1 ? `request ${i} of ${count}: ` : '';
      // A fresh proof each time (new nonce and timestamp); the passport is the supplier's.
      const signed = await signSpec(spec, holder, supply);
      const status = await send(spec, signed.headers, timeoutMs, bool(p, 'json'), io, which);
      if (status !== 0) return status;
    }
    return 0;
  },
};

/** Sends one signed request and prints the answer; 0 on 2xx, else 1 with one line on stderr. */
async function send(spec: RequestSpec, headers: [string, string][], timeoutMs: number, json: boolean, io: Io, which: string): Promise<number> {
  let res: Response;
  try {
    res = await fetch(spec.url, {
      method: spec.method,
      headers,
      ...(spec.body.length > 0 ? { body: spec.body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${which}${spec.method} ${spec.url.href} failed: ${cause ?? (e as Error).message}`);
  }
  const body = await res.text();
  const got: [string, string][] = [];
  res.headers.forEach((v, k) => got.push([k, v]));
  if (json) io.out(`${JSON.stringify({ status: res.status, headers: got, body })}\n`);
  else io.out(`HTTP ${res.status} ${res.statusText}\n${got.map(([k, v]) => `${k}: ${v}\n`).join('')}\n${body}${body.endsWith('\n') || body === '' ? '' : '\n'}`);
  if (res.status >= 200 && res.status < 300) return 0;
  const reason = res.headers.get('x-trustplane-reason');
  io.err(`trustplane request: ${which}HTTP ${res.status}${reason ? ` (${reason})` : ''}\n`);
  return 1;
}
