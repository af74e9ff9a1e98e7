/**
 * `trustplane server --check-config`: everything the server would load at start, loaded and
 * checked the same way, with nothing started — no listener, no replay store connection, no watch,
 * no state file written. For CI pipelines and init containers (docs/configuration.md,
 * "Checking a configuration"). Every problem is collected; none is thrown.
 *
 * What is checked, in order: the configuration file (readable, YAML/JSON), the settings (as
 * loadConfig, environment and flags included), then the files the settings name: the bundle-signing
 * keys (as the bundle source imports them), the bundle (BundleSource.verifyOnce: state file,
 * rollback, signature, time window, exactly the first load), the TLS certificate, key and client CA
 * (read and combined into a TLS context), and the audit file's directory (writable). Redis is not
 * contacted: reachability is a runtime property that /readyz reports.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { dirname } from 'node:path';
import { BundleError } from '../../core/src/server-api.js';
import { BundleSource } from './bundle-source.js';
import { ConfigError, firstLine, fsReason, readConfigFile } from '../../service/src/config.js';
import { loadConfig, type Overrides, type ServerConfig } from './config.js';
import { readSigningKeys } from './server.js';

export interface ConfigCheckInput {
  /** The configuration file, and what named it (`--config`, `TRUSTPLANE_CONFIG`). */
  readonly file?: { readonly path: string; readonly label: string };
  readonly env: NodeJS.ProcessEnv;
  readonly overrides: Overrides;
  readonly nowMs?: number;
}

export interface ConfigCheck {
  readonly problems: readonly string[];
  readonly config?: ServerConfig;
  readonly bundle?: { readonly serial: number; readonly sha256: string };
}


export async function checkConfig(input: ConfigCheckInput): Promise<ConfigCheck> {
  let file: unknown;
  try {
    if (input.file) file = readConfigFile(input.file.path, `${input.file.label}`);
  } catch (e) {
    return { problems: e instanceof ConfigError ? e.problems : [firstLine(e)] };
  }
  let config: ServerConfig;
  try {
    config = loadConfig({ ...(file !== undefined ? { file } : {}), env: input.env, overrides: input.overrides });
  } catch (e) {
    // The files named by invalid settings are not checked: which file the server would read is unknown.
    return { problems: e instanceof ConfigError ? e.problems : [firstLine(e)] };
  }
  const problems = startupFileProblems(config);
  let bundle: ConfigCheck['bundle'];
  if (!problems.some((p) => p.startsWith('bundle.signing_keys'))) {
    try {
      const event = await BundleSource.verifyOnce({
        path: config.bundle.path,
        signingKeys: readSigningKeys(config.bundle.signing_keys),
        allowUnsigned: config.bundle.allow_unsigned,
        ...(config.bundle.state_file ? { stateFile: config.bundle.state_file } : {}),
        ...(input.nowMs !== undefined ? { clock: () => input.nowMs! } : {}),
      });
      if (event.ok) bundle = { serial: event.serial, sha256: event.sha256 };
      else problems.push(`bundle.path ${config.bundle.path}: ${event.code}: ${event.problems.join('; ')}`);
    } catch (e) {
      // A damaged state file (its problems name it) or a signing key the bundle source refuses.
      problems.push(e instanceof BundleError ? `bundle.state_file: ${e.code}: ${e.problems.join('; ')}` : `bundle.signing_keys: ${firstLine(e)}`);
    }
  }
  else {
    // The bundle cannot be verified without its signing keys; whether it can be read still can.
    try {
      readFileSync(config.bundle.path);
    } catch (e) {
      problems.push(`bundle.path ${config.bundle.path}: ${fsReason(e)}`);
    }
  }
  return { problems, config, ...(bundle ? { bundle } : {}) };
}

/**
 * The files the server reads before it can serve, other than the bundle itself: each unreadable or
 * unusable one is one problem naming the setting and the file. Also run by `trustplane server`
 * before it starts, so a bad key is one line at once instead of a failure in every worker.
 */
export function startupFileProblems(config: ServerConfig): string[] {
  const problems: string[] = [];
  if (config.bundle.signing_keys !== undefined) {
    try {
      readSigningKeys(config.bundle.signing_keys);
    } catch (e) {
      problems.push(firstLine(e));
    }
  }
  const tls = config.tls;
  if (tls) {
    const read = (key: 'cert_file' | 'key_file' | 'client_ca_file'): Buffer | undefined => {
      const path = tls[key];
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (e) {
        problems.push(`tls.${key} ${path}: ${fsReason(e)}`);
        return undefined;
      }
    };
    const cert = read('cert_file');
    const key = read('key_file');
    const ca = read('client_ca_file');
    if (cert && key) {
      try {
        createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
      } catch (e) {
        // OpenSSL's reason, e.g. "key values mismatch"; no key material is in it.
        problems.push(`tls.cert_file ${tls.cert_file} / tls.key_file ${tls.key_file}: ${firstLine(e)}`);
      }
    }
  }
  if (config.audit.sink === 'file' && config.audit.file !== undefined) {
    const f = config.audit.file;
    try {
      accessSync(existsSync(f) ? f : dirname(f), constants.W_OK);
    } catch (e) {
      problems.push(`audit.file ${f}: ${existsSync(f) ? 'not writable' : `directory ${dirname(f)}: ${fsReason(e)}`}`);
    }
  }
  return problems;
}
