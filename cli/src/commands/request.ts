/** `trustplane request`: sign a request and send it, curl-like. */
import { bool, need, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { parseIntFlag, readPrivateKey } from '../files.js';
import { passportSupplier, REQUEST_FLAGS, REQUEST_USAGE, requestSpec, signSpec } from '../signing.js';

export const requestCommand: Command = {
  name: 'request',
  summary: 'sign a request and send it; print status, headers and body',
  usage: `trustplane request --holder-key FILE --route ID (--passport TOKEN|@FILE | --issuer-key FILE … | --broker SOCKET …)
                   [-X METHOD] [-H 'k: v']… [--bind-header NAME]… [--data STR | --data-file FILE|-]
                   [--timeout MS] [--json] URL

  Signs the request (a fresh passport per request with --issuer-key or --broker), sends it and prints
  the status line, the response headers and the body, like curl -i. Exits 1 when the status is not
  2xx (a deny prints its x-trustplane-reason) or the server cannot be reached.
${REQUEST_USAGE}
  --timeout MS            give up after this long (default 10000)
  --json                  print {status, headers: [[name, value], …], body} (body as text)

  Example: trustplane request --broker /run/trustplane/broker.sock --audience https://api.example \\
             --holder-key holder.jwk --route payments-read https://api.example/v1/payments/42`,
  async run(argv, io) {
    const p = parseArgs(argv, { ...REQUEST_FLAGS, timeout: { type: 'string' } });
    const spec = requestSpec(p);
    const supply = passportSupplier(p);
    const timeoutMs = parseIntFlag(str(p, 'timeout'), '--timeout', 1, 600_000) ?? 10_000;
    const holder = readPrivateKey(need(p, 'holder-key'), '--holder-key');
    const signed = await signSpec(spec, holder, supply);
    let res: Response;
    try {
      res = await fetch(spec.url, {
        method: spec.method,
        headers: signed.headers,
        ...(spec.body.length > 0 ? { body: spec.body } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new Error(`${spec.method} ${spec.url.href} failed: ${cause ?? (e as Error).message}`);
    }
    const body = await res.text();
    const headers: [string, string][] = [];
    res.headers.forEach((v, k) => headers.push([k, v]));
    if (bool(p, 'json')) io.out(`${JSON.stringify({ status: res.status, headers, body })}\n`);
    else io.out(`HTTP ${res.status} ${res.statusText}\n${headers.map(([k, v]) => `${k}: ${v}\n`).join('')}\n${body}${body.endsWith('\n') || body === '' ? '' : '\n'}`);
    if (res.status >= 200 && res.status < 300) return 0;
    const reason = res.headers.get('x-trustplane-reason');
    io.err(`trustplane request: HTTP ${res.status}${reason ? ` (${reason})` : ''}\n`);
    return 1;
  },
};
