import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BUNDLE_EDIT_ERROR_CODES, BUNDLE_SOURCE_ERROR_CODES, compileBundle, verifyBundle } from '../../core/src/bundle/index.js';
import type { PublicJwk } from '../../core/src/types.js';

// dist/test/core/ → repository root
const doc = readFileSync(new URL('../../../docs/bundle.md', import.meta.url), 'utf8');

describe('docs/bundle.md', () => {
  it('lists exactly the bundle error codes the code can produce', () => {
    const section = doc.slice(doc.indexOf('### Error codes'), doc.indexOf('## 4.'));
    const documented = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]).sort();
    const produced = [...new Set([...BUNDLE_SOURCE_ERROR_CODES, ...BUNDLE_EDIT_ERROR_CODES])].sort();
    assert.deepEqual(documented, produced);
  });

  it('carries an example that verifies with the published signing key and behaves as described', () => {
    const example = /```json\n([\s\S]*?)\n```/.exec(doc.slice(doc.indexOf('## 7. Example')))![1]!;
    const jwk = JSON.parse(/verifies it is\n?`(\{[^`]+\})`/.exec(doc)![1]!) as PublicJwk;
    const r = verifyBundle(example, { signingKeys: [jwk], now: 1767225600 + 60 });
    assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.problems.join('; ')}`);
    const c = compileBundle(r.bundle);
    assert.equal(c.matchRoute('GET', 'api.example.com', '/v1/orders/17')?.id, 'orders.read');
    assert.equal(c.matchRoute('POST', 'any.example', '/v1/invoices/2026/01')?.id, 'invoices.write');
    assert.ok(c.subjectAllowed('spiffe://partner.example/ns/*/sa/orders-reader', 'spiffe://partner.example/ns/eu/sa/orders-reader'));
    assert.ok(c.isRevokedKid('partner-broker-0'));
  });
});
