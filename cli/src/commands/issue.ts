/** `trustplane issue`: a passport signed with a local issuer key, for a holder key. */
import { issuePassport, readPassportClaims } from '../../../core/src/index.js';
import { UsageError, bool, need, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { parseIntFlag, readPrivateKey, readPublicKey } from '../files.js';
import { mintOptions } from '../signing.js';

export const issueCommand: Command = {
  name: 'issue',
  summary: 'issue a passport with a local issuer key',
  usage: `trustplane issue --issuer-key FILE --issuer URI --subject URI --audience AUD --trust-domain TD
                 --holder-key FILE [--key-binding CLASS] [--lifetime S] [--reusable] [--json]

  Prints a passport (a compact JWS, typ tp-passport+jwt) signed by the issuer key, whose cnf is the
  holder key. The verifier accepts it only if its bundle trusts the issuer key's kid for this issuer
  and trust domain, at least up to the claimed key-binding class.
  --issuer-key FILE    private JWK of the issuer (its kid is the passport's kid)
  --issuer URI         iss          --subject URI   sub (e.g. a SPIFFE ID)
  --audience AUD       aud          --trust-domain TD
  --holder-key FILE    the holder's JWK, public or private (only the public part is used)
  --key-binding CLASS  software (default), remote_kms, hardware_local, attested_workload
  --lifetime S         seconds, 1-3600 (default 60; routes allow at most 300 unless they say so)
  --reusable           a reusable passport ("reusable": true, docs/transcript-v1.md §15): one passport
                       for many requests, each with its own proof, on routes with reusable_passport
  --json               print {passport, jti, kid, iat, exp}

  Example: trustplane issue --issuer-key issuer.jwk --issuer https://issuer.example \\
             --subject spiffe://example.org/ns/shop/sa/checkout --audience https://api.example \\
             --trust-domain example.org --holder-key holder.pub.jwk > passport.jwt`,
  async run(argv, io) {
    const p = parseArgs(argv, {
      'issuer-key': { type: 'string' },
      issuer: { type: 'string' },
      subject: { type: 'string' },
      audience: { type: 'string' },
      'trust-domain': { type: 'string' },
      'holder-key': { type: 'string' },
      'key-binding': { type: 'string' },
      lifetime: { type: 'string' },
      reusable: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const keyFile = need(p, 'issuer-key');
    const audience = need(p, 'audience');
    const holderFile = need(p, 'holder-key');
    const minted = mintOptions(p, '');
    const lifetimeS = parseIntFlag(str(p, 'lifetime'), '--lifetime', 1, 3600) ?? 60;
    const key = readPrivateKey(keyFile, '--issuer-key');
    const holder = readPublicKey(holderFile, '--holder-key');
    const passport = issuePassport({ key, ...minted, audience, holder, lifetimeS, ...(bool(p, 'reusable') ? { reusable: true } : {}) });
    if (bool(p, 'json')) {
      const c = readPassportClaims(passport);
      io.out(`${JSON.stringify({ passport, jti: c.jti, kid: key.kid, iat: c.iat, exp: c.exp })}\n`);
    } else io.out(`${passport}\n`);
    return 0;
  },
};
