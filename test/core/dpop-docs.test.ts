/**
 * docs/dpop.md and the DPoP parts of docs/bundle.md stay true: every DPoP reason code of the
 * registry is in docs/dpop.md, and the route example of bundle.md §1.2.5 is a valid route that
 * accepts DPoP with exactly what DPoP binds.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { buildBundle } from '../../core/src/bundle/edit.js';
import type { Route } from '../../core/src/bundle/types.js';
import { DPOP } from '../../core/src/engine/kinds/index.js';
import { generateSigningKey } from '../../core/src/keys.js';
import { REASON_CODES } from '../../core/src/reasons.js';

const read = (f: string): string => readFileSync(new URL(`../../../docs/${f}`, import.meta.url), 'utf8');

describe('docs/dpop.md', () => {
  it('names every access_token_* and dpop_* reason code of the registry, and no other such code', () => {
    const doc = read('dpop.md');
    const registry = REASON_CODES.filter((c) => c.startsWith('dpop_') || c.startsWith('access_token_')).sort();
    const named = [...new Set([...doc.matchAll(/`((?:dpop|access_token)_[a-z_]+)`/g)].map((m) => m[1]!))].sort();
    assert.deepEqual(registry.filter((c) => !named.includes(c)), [], 'codes missing from docs/dpop.md');
    // `dpop_jti` is the audit field, not a code.
    assert.deepEqual(named.filter((c) => !registry.includes(c as never) && c !== 'dpop_jti'), [], 'codes in docs/dpop.md the registry does not have');
  });

  it('has the route example of bundle.md §1.2.5 valid, listing dpop with the binding DPoP reports', () => {
    const bundleDoc = read('bundle.md');
    const at = bundleDoc.indexOf('**Enabling DPoP on a route.**');
    assert.ok(at > 0);
    const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(bundleDoc.slice(at))![1]!) as Route;
    const key = generateSigningKey('EdDSA');
    const built = buildBundle({
      issuedAt: 1,
      expiresAt: 2,
      keys: [{ kid: key.kid, issuer: 'https://as.example.com', trust_domain: 'example.com', max_key_binding: 'software', jwk: key.publicJwk }],
      routes: [example],
    });
    assert.ok(built.ok, built.ok ? '' : built.problems.join('; '));
    assert.ok(example.proof_kinds?.includes('dpop'));
    assert.deepEqual([...DPOP.binds(undefined as never).parts], example.min_binding);
  });
});
