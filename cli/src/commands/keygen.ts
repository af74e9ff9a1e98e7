/** `trustplane keygen`: a new Ed25519 or P-256 signing key as a private JWK file (mode 0600). */
import { exportPrivateJwk, generateSigningKey, jwkThumbprint } from '../../../core/src/keys.js';
import { UsageError, bool, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { writeAtomic, writeNew } from '../files.js';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'generate a signing key (Ed25519 or P-256) as a private JWK file',
  usage: `trustplane keygen --out FILE [--alg EdDSA|ES256] [--kid KID] [--public-out FILE] [--json]

  Writes a new private JWK to FILE with mode 0600 (refuses to overwrite an existing file) and prints
  its kid and RFC 7638 thumbprint. The same key serves as an issuer key, a holder key, a broker key or
  a bundle-signing key.
  --out FILE         where the private JWK goes; "-" prints it to standard output instead
  --alg ALG          EdDSA (Ed25519, default) or ES256 (P-256)
  --kid KID          key id (default: the thumbprint)
  --public-out FILE  also write the public JWK (for bundle keys, merge-source, signing-keys)
  --json             print {kid, thumbprint, alg, out, public_out} as JSON

  Example: trustplane keygen --out holder.jwk --public-out holder.pub.jwk`,
  async run(argv, io) {
    const p = parseArgs(argv, {
      out: { type: 'string' },
      alg: { type: 'string' },
      kid: { type: 'string' },
      'public-out': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const out = str(p, 'out');
    if (out === undefined) throw new UsageError('option --out is required (a file, or "-" for standard output)');
    const alg = str(p, 'alg') ?? 'EdDSA';
    if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256');
    const kid = str(p, 'kid');
    if (kid !== undefined && !/^[\x21-\x7e]{1,256}$/.test(kid)) throw new UsageError('--kid must be 1-256 visible ASCII characters');
    const key = generateSigningKey(alg, kid);
    const privateText = `${JSON.stringify(exportPrivateJwk(key), null, 2)}\n`;
    const publicOut = str(p, 'public-out');
    const thumbprint = jwkThumbprint(key.publicJwk);
    const info = { kid: key.kid, thumbprint, alg: key.alg, out: out === '-' ? null : out, public_out: publicOut ?? null };
    if (out === '-') {
      // The command's purpose when asked: the private key goes to standard output, nothing else does.
      if (publicOut !== undefined) writeAtomic(publicOut, `${JSON.stringify(key.publicJwk, null, 2)}\n`);
      io.out(privateText);
      io.err(`kid ${key.kid} thumbprint ${thumbprint} alg ${key.alg}\n`);
      return 0;
    }
    writeNew(out, privateText, 0o600);
    if (publicOut !== undefined) writeAtomic(publicOut, `${JSON.stringify(key.publicJwk, null, 2)}\n`);
    if (bool(p, 'json')) io.out(`${JSON.stringify(info)}\n`);
    else {
      io.out(`kid         ${key.kid}\nthumbprint  ${thumbprint}\nalg         ${key.alg}\nprivate JWK ${out} (mode 0600)\n`);
      if (publicOut !== undefined) io.out(`public JWK  ${publicOut}\n`);
    }
    return 0;
  },
};
