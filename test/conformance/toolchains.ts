import { spawnSync } from 'node:child_process';

/**
 * The toolchains the gate needs. Python: the first of $PYTHON, python3 and /usr/bin/python3 that
 * imports `cryptography` (Debian's python3-cryptography installs it for /usr/bin/python3, which a
 * python3 earlier on PATH may not see).
 */
export function toolchains(): { python?: string; go?: string; missing: string[] } {
  const missing: string[] = [];
  const python = [process.env.PYTHON, 'python3', '/usr/bin/python3'].find(
    (p) => p !== undefined && p !== '' && spawnSync(p, ['-c', 'import cryptography'], { encoding: 'utf8' }).status === 0,
  );
  if (python === undefined) missing.push('python3 with the cryptography module (apt-get install python3-cryptography)');
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) missing.push('go (apt-get install golang-go)');
  return { ...(python !== undefined ? { python } : {}), ...(go.status === 0 ? { go: 'go' } : {}), missing };
}
