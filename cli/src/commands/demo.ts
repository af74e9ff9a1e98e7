/**
 * `trustplane demo`: a scripted tour through the real path — the authz server over gRPC on
 * loopback, the real `.wasm` filter in the development gateway, the broker on a Unix socket and an
 * echo upstream — printing each HTTP status and reason code. With `--target URL` it runs the same
 * tour against a running gateway instead (Envoy in the compose lab), using keys from `--state-dir`.
 */
import { join } from 'node:path';
import { parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { readPrivateKey } from '../files.js';
import { startLocalStack } from '../local-stack.js';
import { runTour, type TourResult } from '../tour.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the signed-request tour (allow, tampering, replay, audience, expiry, limits)',
  usage: `trustplane demo [--target URL --lab-dir DIR [--broker-socket PATH]] [--json]

  Without --target: starts the authz server, broker, development gateway (real wasm filter) and an
  echo upstream on loopback, runs the tour through them, and stops them.
  --target URL     run the tour against an already running gateway (e.g. Envoy in the compose lab)
  --lab-dir DIR    where the issuer and holder keys are (with --target; written by lab-init);
                   --state-dir is the same option
  --broker-socket PATH  also fetch a passport from this broker
  --json           print the results as JSON`,
  async run(argv, io) {
    const p = parseArgs(argv, {
      target: { type: 'string' },
      'state-dir': { type: 'string' },
      'lab-dir': { type: 'string' },
      'broker-socket': { type: 'string' },
      json: { type: 'boolean' },
    });
    const json = p.flags.json === true;
    const print = json ? () => {} : (line: string) => io.out(line);
    let results: TourResult[];
    const target = str(p, 'target');
    if (target) {
      const dir = str(p, 'lab-dir') ?? str(p, 'state-dir') ?? '.trustplane';
      const brokerSocket = str(p, 'broker-socket');
      // One line naming the file when a key is missing or unusable (docs/cli.md, Conventions).
      const key = (name: string) => readPrivateKey(join(dir, `${name}.jwk.json`), '--lab-dir key');
      const issuerKey = key('issuer-key');
      const holderKey = key('holder-key');
      print(`TrustPlane demo against ${target}\n\n`);
      results = await runTour({ target, issuerKey, holderKey, ...(brokerSocket ? { brokerSocket } : {}) }, print);
    } else {
      const stack = await startLocalStack();
      try {
        print(
          `TrustPlane demo: authz server ${stack.server.grpcAddress} (gRPC), gateway ${stack.gateway.url} (real wasm filter), broker ${stack.brokerSocket}\n\n`,
        );
        results = await runTour({ target: stack.gateway.url, issuerKey: stack.state.issuerKey, holderKey: stack.state.holderKey, brokerSocket: stack.brokerSocket, adminRoute: true }, print);
      } finally {
        await stack.close();
      }
    }
    const failed = results.filter((r) => !r.ok);
    if (json) {
      // snake_case like every --json key (docs/cli.md); TourResult is the code's camelCase view.
      const rows = results.map((r) => ({
        name: r.name,
        expect_status: r.expectStatus,
        expect_reason: r.expectReason,
        status: r.status,
        reason: r.reason,
        ok: r.ok,
        ...(r.upstream ? { upstream: { subject: r.upstream.subject ?? null, credentials_forwarded: r.upstream.credentialsForwarded } } : {}),
      }));
      io.out(`${JSON.stringify(rows, null, 2)}\n`);
    }
    else io.out(`\n${results.length - failed.length} of ${results.length} steps behaved as expected${failed.length ? `; unexpected: ${failed.map((f) => f.name).join('; ')}` : ''}\n`);
    return failed.length === 0 ? 0 : 1;
  },
};
