/** `trustplane server`: the ext_authz gRPC server. `--dev` runs on the embedded default. */
import { ConfigError, loadConfig, readConfigFile, type Overrides } from '../../../authz-server/src/config.js';
import { isServerWorker, runForkedWorker, runServer } from '../../../authz-server/src/cluster.js';
import { bool, parseArgs, str } from '../args.js';
import { defaultStateDir, ensureDevState } from '../dev-state.js';
import type { Command } from '../command.js';

export const serverCommand: Command = {
  name: 'server',
  summary: 'run the ext_authz gRPC server',
  usage: `trustplane server [--config FILE] [--dev] [--grpc ADDR] [--http ADDR] [--bundle FILE]
                  [--signing-keys FILE] [--allow-unsigned-bundle] [--redis-url URL]
                  [--mode enforce|dry_run] [--workers N] [--state-dir DIR]

  --config FILE        YAML or JSON configuration (docs/configuration.md)
  --dev                embedded default: a development bundle and keys generated into the
                       state folder (default ./.trustplane), memory replay store, loopback only
  --grpc ADDR          gRPC listen address (host:port or unix:/path)   [127.0.0.1:9191]
  --http ADDR          metrics/health listen address                   [127.0.0.1:9464]
  Environment variables TRUSTPLANE_* override the file; flags override both.`,
  async run(argv, io) {
    if (isServerWorker()) {
      await runForkedWorker();
      return undefined;
    }
    const p = parseArgs(argv, {
      config: { type: 'string' },
      dev: { type: 'boolean' },
      grpc: { type: 'string' },
      http: { type: 'string' },
      bundle: { type: 'string' },
      'signing-keys': { type: 'string' },
      'allow-unsigned-bundle': { type: 'boolean' },
      'redis-url': { type: 'string' },
      mode: { type: 'string' },
      workers: { type: 'string' },
      'state-dir': { type: 'string' },
    });
    const overrides: Record<string, string | boolean> = {};
    const map: [string, string][] = [
      ['grpc', 'listen.grpc'],
      ['http', 'listen.http'],
      ['bundle', 'bundle.path'],
      ['signing-keys', 'bundle.signing_keys'],
      ['mode', 'mode'],
      ['workers', 'workers'],
    ];
    for (const [flag, key] of map) {
      const v = str(p, flag);
      if (v !== undefined) overrides[key] = v;
    }
    if (bool(p, 'allow-unsigned-bundle')) overrides['bundle.allow_unsigned'] = true;
    const redisUrl = str(p, 'redis-url');
    if (redisUrl) {
      overrides['replay.store'] = 'redis';
      overrides['replay.redis.url'] = redisUrl;
    }
    if (bool(p, 'dev')) {
      const state = ensureDevState(str(p, 'state-dir') ?? defaultStateDir());
      overrides['bundle.path'] ??= state.bundlePath;
      overrides['bundle.signing_keys'] ??= state.signingKeysPath;
      // The development gateway and the demo compute body hashes in the wasm filter.
      overrides['body.filter_header.trusted'] ??= true;
      io.err(`trustplane: development mode; state folder ${state.dir} (bundle serial ${state.bundle.serial})\n`);
    }
    let config;
    try {
      const cfgPath = str(p, 'config') ?? process.env.TRUSTPLANE_CONFIG;
      config = loadConfig({ ...(cfgPath ? { file: readConfigFile(cfgPath) } : {}), env: process.env, overrides: overrides as Overrides });
    } catch (error) {
      if (error instanceof ConfigError) {
        io.err(`trustplane server: ${error.message}\n`);
        return 2;
      }
      throw error;
    }
    await runServer(config);
    return undefined;
  },
};
