/** `trustplane sign`: the passport and proof headers for a request, without sending it. */
import { HEADER } from '../../../core/src/index.js';
import { bool, need, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { checkOutputs, readPrivateKey, writeOutputs } from '../files.js';
import { captureOf, passportOutput, passportSupplier, REQUEST_FLAGS, REQUEST_USAGE, requestInputs, requestSpec, signSpec } from '../signing.js';

export const signCommand: Command = {
  name: 'sign',
  summary: 'print the TrustPlane headers for a request (passport and proof)',
  usage: `trustplane sign --holder-key FILE --route ID (--passport TOKEN|@FILE | --issuer-key FILE … | --broker SOCKET …)
                [-X METHOD] [-H 'k: v']… [--bind-header NAME]… [--data STR | --data-file FILE|-]
                [--reusable [--passport-out FILE]] [--capture FILE] [--force] [--json] URL

  Prints the headers to add to the request, one "name: value" per line (--json: {passport, proof,
  headers: [[name, value], …]}). The
  proof binds the method, URL, bound headers and body exactly as given: send them unchanged.
${REQUEST_USAGE}
  --capture FILE          also write the signed request as a captured-request file, the input of
                          "trustplane verify --request" (docs/cli.md); mode 0600, an
                          existing file is refused unless --force
  --force                 let --capture and --passport-out replace an existing file

  Example: trustplane sign --passport @passport.jwt --holder-key holder.jwk --route payments-create \\
             -X POST -H 'content-type: application/json' --bind-header content-type \\
             --data '{"amount":100}' https://api.example/v1/payments`,
  async run(argv, io) {
    const p = parseArgs(argv, { ...REQUEST_FLAGS, capture: { type: 'string' } });
    const spec = requestSpec(p);
    const capture = str(p, 'capture');
    const force = bool(p, 'force');
    const supply = passportSupplier(p);
    // Before a passport is asked for: a refused command has no side effect.
    checkOutputs([...(capture !== undefined ? [{ flag: '--capture', path: capture, replace: force }] : []), ...passportOutput(p)], requestInputs(p));
    const holder = readPrivateKey(need(p, 'holder-key'), '--holder-key');
    const signed = await signSpec(spec, holder, supply);
    if (capture !== undefined) {
      writeOutputs([{ flag: '--capture', path: capture, data: `${JSON.stringify(captureOf(spec, signed), null, 2)}\n`, mode: 0o600, replace: force }], requestInputs(p));
    }
    // JSON keys are snake_case in every command's --json (docs/cli.md); header names are values.
    if (bool(p, 'json')) io.out(`${JSON.stringify({ passport: signed.credentials[HEADER.passport], proof: signed.credentials[HEADER.proof], headers: Object.entries(signed.credentials) })}\n`);
    else io.out(Object.entries(signed.credentials).map(([k, v]) => `${k}: ${v}\n`).join(''));
    return 0;
  },
};
