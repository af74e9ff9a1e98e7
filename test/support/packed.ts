/**
 * A package of packages/ as a user gets it: compiled with its own tsconfig, packed with `npm pack`,
 * and installed from the tarball into an empty project (test/sdk/package.test.ts,
 * test/middleware/package.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';

export interface InstalledPackage {
  /** The empty project the tarball was installed into. */
  readonly project: string;
  /** Removes the tarball and the project. */
  dispose(): void;
}

/**
 * `offline`: install from the tarball alone (a package with no dependencies); otherwise npm may take
 * the package's dependencies from its cache or the registry.
 */
export function packAndInstall(packageDir: string, opts: { offline: boolean }): InstalledPackage {
  const work = mkdtempSync(join(tmpdir(), 'tp-pack-'));
  rmSync(join(packageDir, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(packageDir, 'tsconfig.json')], { stdio: 'pipe' });
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: packageDir, encoding: 'utf8' });
  const tarball = join(work, (JSON.parse(out) as { filename: string }[])[0]!.filename);
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'project', version: '1.0.0', private: true, type: 'module' }));
  execFileSync('npm', ['install', opts.offline ? '--offline' : '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: project, stdio: 'pipe' });
  return { project, dispose: () => rmSync(work, { recursive: true, force: true }) };
}

/** Bytes under `dir`, for the install size a test prints. */
export function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? duBytes(p) : statSync(p).size;
  }
  return total;
}
