/** `trustplane server`: the ext_authz gRPC server. `--dev` runs on the embedded default. */
import { checkConfig, startupFileProblems } from '../../../authz-server/src/check-config.js';
import { loadConfig, type Overrides } from '../../../authz-server/src/config.js';
import { ConfigError, readConfigFile } from '../../../service/src/config.js';
import { isServerWorker, runForkedWorker, runServer } from '../../../authz-server/src/cluster.js';
import { UsageError, bool, parseArgs, str } from '../args.js';
import { defaultStateDir, ensureDevState } from '../dev-state.js';
import type { Command } from '../command.js';

export const serverCommand: Command = {
  name: 'server',
  summary: 'run the ext_authz gRPC server',
  usage: `trustplane server [--config FILE] [--dev] [--grpc ADDR] [--http ADDR] [--bundle FILE]
                  [--signing-keys FILE] [--allow-unsigned-bundle] [--redis-url URL]
                  [--mode enforce|dry_run] [--workers N] [--state-dir DIR]
       trustplane server --check-config [--config FILE] [same overrides] [--json]

  --config FILE        YAML or JSON configuration (docs/configuration.md)
  --dev                embedded default: a development bundle and keys generated into the
                       state folder (default ./.trustplane), memory replay store, loopback only
  --grpc ADDR          gRPC listen address (host:port or unix:/path)   [127.0.0.1:9191]
  --http ADDR          metrics/health listen address                   [127.0.0.1:9464]
  --check-config       load and check the configuration, the signing keys, the bundle (as the
                       first load would: state file, rollback, signature, time window), the TLS
                       files and the audit file's folder; print every problem, one per line;
                       exit 0 (would start) or 1; start nothing, write nothing
  --json               with --check-config: print {ok, problems, bundle_serial, bundle_sha256}
  Environment variables TRUSTPLANE_* override the file; flags override both. A problem at start
  is one line naming the setting, the file or the environment variable; exit 2 for settings, 1 for files.`,
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
      'check-config': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const checkOnly = bool(p, 'check-config');
    if (checkOnly && bool(p, 'dev')) throw new UsageError('--check-config checks a deployment configuration; --dev generates its own (drop one)');
    if (bool(p, 'json') && !checkOnly) throw new UsageError('--json goes with --check-config');
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
    const flagPath = str(p, 'config');
    const envPath = process.env.TRUSTPLANE_CONFIG;
    const file = flagPath !== undefined ? { path: flagPath, label: '--config' } : envPath ? { path: envPath, label: 'TRUSTPLANE_CONFIG' } : undefined;
    if (checkOnly) {
      const r = await checkConfig({ ...(file ? { file } : {}), env: process.env, overrides: overrides as Overrides });
      const ok = r.problems.length === 0;
      if (bool(p, 'json')) {
        io.out(`${JSON.stringify({ ok, problems: r.problems, bundle_serial: r.bundle?.serial ?? null, bundle_sha256: r.bundle?.sha256 ?? null })}\n`);
      } else if (ok) {
        io.out(`ok: configuration valid; bundle serial ${r.bundle!.serial} (sha256 ${r.bundle!.sha256}) would be served${r.config!.replay.store === 'redis' ? '; Redis not contacted' : ''}\n`);
      } else {
        for (const problem of r.problems) io.err(`trustplane server: ${problem}\n`);
      }
      return ok ? 0 : 1;
    }
    let fileContent: unknown;
    try {
      if (file) fileContent = readConfigFile(file.path, file.label);
    } catch (error) {
      if (error instanceof ConfigError) {
        io.err(`trustplane server: ${error.problems.join('; ')}\n`);
        return 1;
      }
      throw error;
    }
    let config;
    try {
      config = loadConfig({ ...(file ? { file: fileContent } : {}), env: process.env, overrides: overrides as Overrides });
    } catch (error) {
      if (error instanceof ConfigError) {
        // One line: the problems joined, each naming its setting, file or environment variable.
        io.err(`trustplane server: invalid configuration: ${error.problems.join('; ')}\n`);
        return 2;
      }
      throw error;
    }
    // Unreadable keys and TLS files are named once, here, rather than failing in every worker.
    const fileProblems = startupFileProblems(config);
    if (fileProblems.length > 0) {
      io.err(`trustplane server: ${fileProblems.join('; ')}\n`);
      return 1;
    }
    await runServer(config);
    return undefined;
  },
};
