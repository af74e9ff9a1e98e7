/** `trustplane broker --config FILE`: the passport broker on its Unix socket, until SIGTERM/SIGINT. */
import { ConfigError, loadBrokerConfig, startBroker } from '../../../broker/src/index.js';
import { UsageError, need, parseArgs } from '../args.js';
import type { Command } from '../command.js';
import { untilSignal } from '../lifecycle.js';

export const brokerCommand: Command = {
  name: 'broker',
  summary: 'run the passport broker on a Unix socket',
  usage: `trustplane broker --config FILE

  Runs the broker (docs/broker.md) with a YAML or JSON configuration until SIGTERM or SIGINT, then
  closes the socket and exits 0. Prints one line on stdout once the socket accepts requests; logs
  JSON lines to stderr. A configuration problem exits 2, naming
  every problem; a key or socket problem exits 1.
  --config FILE   broker configuration (socket_path, socket_group, issuer, key_file, software, spiffe, …)

  Example: trustplane broker --config lab/broker.yaml`,
  async run(argv, io) {
    const p = parseArgs(argv, { config: { type: 'string' } });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const file = need(p, 'config');
    let config;
    try {
      config = loadBrokerConfig(file);
    } catch (e) {
      if (e instanceof ConfigError) {
        const problems = e.problems.join('; ');
        // A file that cannot be read is not a usage mistake (exit 1); a bad setting in it is (exit 2).
        if (e.problems.length === 1 && e.problems[0]!.startsWith(`${file}: `)) throw new Error(problems);
        throw new UsageError(`${file}: ${problems}`);
      }
      throw e;
    }
    const broker = await startBroker(config);
    const entry = broker.trustEntry();
    io.out(`broker ready on ${broker.socketPath} (kid ${entry.kid}, issuer ${entry.issuer}, max ${entry.max_key_binding})\n`);
    untilSignal(io, 'the broker', () => broker.close());
    return undefined;
  },
};
