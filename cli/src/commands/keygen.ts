/** `trustplane keygen`: a new Ed25519 or P-256 signing key as a private JWK file (mode 0600). */
import { exportPrivateJwk, generateSigningKey, jwkThumbprint } from '../../../core/src/index.js';
import { UsageError, bool, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { checkOutputs, writeOutputs, type Output } from '../files.js';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'generate a signing key (Ed25519 or P-256) as a private JWK file',
  usage: `trustplane keygen --out FILE [--alg EdDSA|ES256] [--kid KID] [--public-out FILE] [--force] [--json]

  Writes a new private JWK to FILE with mode 0600 and prints its kid and RFC 7638 thumbprint. An
  existing FILE or --public-out file is refused unless --force; --out and --public-out naming one
  file (through a symlink too) is refused before anything is written. The same key serves as an
  issuer key, a holder key, a broker key or a bundle-signing key.
  --out FILE         where the private JWK goes; "-" prints it to standard output instead
  --alg ALG          EdDSA (Ed25519, default) or ES256 (P-256)
  --kid KID          key id (default: the thumbprint)
  --public-out FILE  also write the public JWK (for bundle keys, merge-source, signing-keys)
  --force            replace existing files (written to a new file, then renamed over them)
  --json             print {kid, thumbprint, alg, out, public_out} as JSON

  Example: trustplane keygen --out holder.jwk --public-out holder.pub.jwk`,
  async run(argv, io) {
    const p = parseArgs(argv, {
      out: { type: 'string' },
      alg: { type: 'string' },
      kid: { type: 'string' },
      'public-out': { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const out = str(p, 'out');
    if (out === undefined) throw new UsageError('option --out is required (a file, or "-" for standard output)');
    const alg = str(p, 'alg') ?? 'EdDSA';
    if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256');
    const kid = str(p, 'kid');
    if (kid !== undefined && !/^[\x21-\x7e]{1,256}$/.test(kid)) throw new UsageError('--kid must be 1-256 visible ASCII characters');
    const publicOut = str(p, 'public-out');
    if (publicOut === '-') throw new UsageError('--public-out needs a file (standard output is for --out -)');
    const force = bool(p, 'force');
    const planned = [
      ...(out === '-' ? [] : [{ flag: '--out', path: out, replace: force }]),
      ...(publicOut !== undefined ? [{ flag: '--public-out', path: publicOut, replace: force }] : []),
    ];
    // Before the key exists: a refused command writes nothing.
    checkOutputs(planned);
    const key = generateSigningKey(alg, kid);
    const privateText = `${JSON.stringify(exportPrivateJwk(key), null, 2)}\n`;
    const thumbprint = jwkThumbprint(key.publicJwk);
    const info = { kid: key.kid, thumbprint, alg: key.alg, out: out === '-' ? null : out, public_out: publicOut ?? null };
    const outputs: Output[] = [
      ...(out === '-' ? [] : [{ flag: '--out', path: out, data: privateText, mode: 0o600, replace: force }]),
      ...(publicOut !== undefined ? [{ flag: '--public-out', path: publicOut, data: `${JSON.stringify(key.publicJwk, null, 2)}\n`, mode: 0o644, replace: force }] : []),
    ];
    writeOutputs(outputs);
    if (out === '-') {
      // The command's purpose when asked: the private key goes to standard output, nothing else does.
      io.out(privateText);
      io.err(`kid ${key.kid} thumbprint ${thumbprint} alg ${key.alg}\n`);
      return 0;
    }
    if (bool(p, 'json')) io.out(`${JSON.stringify(info)}\n`);
    else {
      io.out(`kid         ${key.kid}\nthumbprint  ${thumbprint}\nalg         ${key.alg}\nprivate JWK ${out} (mode 0600)\n`);
      if (publicOut !== undefined) io.out(`public JWK  ${publicOut}\n`);
    }
    return 0;
  },
};
