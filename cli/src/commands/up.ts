/** `trustplane up`: the one-machine stack (server, broker, echo, gateway with the real wasm), kept running. */
import { createLogger } from '../../../service/src/log.js';
import { UsageError, bool, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { DEV, defaultStateDir } from '../dev-state.js';
import { listenAddress, untilSignal } from '../lifecycle.js';
import { startLocalStack } from '../local-stack.js';

export const upCommand: Command = {
  name: 'up',
  summary: 'run the local stack (authz server, broker, echo upstream, gateway) until Ctrl-C',
  usage: `trustplane up [--state-dir DIR] [--listen HOST:PORT] [--audit FILE] [--json]

  Starts, on loopback, the authz server (gRPC), the broker (Unix socket), an echo upstream and the
  development gateway running the real wasm filter and ext_authz in front of it, prints their
  addresses, and runs until SIGINT/SIGTERM, then stops them all. Development only: keys and a
  signed bundle are generated into the state folder (default ./.trustplane; reused next time).
  --state-dir DIR     development keys and bundle (issuer-key.jwk.json, holder-key.jwk.json, …)
  --listen HOST:PORT  the gateway's address (default 127.0.0.1:0, a free port)
  --audit FILE        append the server's audit events (JSON lines) to FILE
  --json              print the addresses as one JSON object

  Then, for example: trustplane request --broker <socket> --audience ${DEV.audience} \\
    --holder-key <state>/holder-key.jwk.json --route payments-read <gateway>/v1/payments/42`,
  async run(argv, io) {
    const p = parseArgs(argv, { 'state-dir': { type: 'string' }, listen: { type: 'string' }, audit: { type: 'string' }, json: { type: 'boolean' } });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const listen = str(p, 'listen');
    const audit = str(p, 'audit');
    const stack = await startLocalStack({
      stateDir: str(p, 'state-dir') ?? defaultStateDir(),
      logger: createLogger('warn'),
      ...(listen !== undefined ? { gatewayListen: listenAddress(listen, '--listen') } : {}),
      ...(audit !== undefined ? { auditFile: audit } : {}),
    });
    const info = {
      gateway: stack.gateway.url,
      grpc: stack.server.grpcAddress,
      http: stack.server.httpAddress ? `http://${stack.server.httpAddress}` : null,
      broker_socket: stack.brokerSocket,
      upstream: stack.upstreamUrl,
      state_dir: stack.state.dir,
      bundle_serial: stack.state.bundle.serial,
      audience: DEV.audience,
      issuer: DEV.issuer,
      subject: DEV.subject,
      trust_domain: DEV.trustDomain,
    };
    if (bool(p, 'json')) io.out(`${JSON.stringify(info)}\n`);
    else {
      io.out(
        [
          'TrustPlane local stack (development, loopback only)',
          `  gateway   ${info.gateway}   (real wasm filter + ext_authz; routes /v1/payments, /v1/payments/*, /v1/uploads, /v1/admin/*, /public)`,
          `  authz     ${info.grpc} (gRPC)${info.http ? `, ${info.http}/metrics /readyz` : ''}`,
          `  broker    ${info.broker_socket}`,
          `  upstream  ${info.upstream} (echo)`,
          `  state     ${info.state_dir} (bundle serial ${info.bundle_serial}; issuer-key.jwk.json, holder-key.jwk.json)`,
          `  audience  ${info.audience}   issuer ${info.issuer}   trust domain ${info.trust_domain}`,
          'Ctrl-C stops everything.',
          '',
        ].join('\n'),
      );
    }
    untilSignal(io, 'the local stack', () => stack.close());
    return undefined;
  },
};
