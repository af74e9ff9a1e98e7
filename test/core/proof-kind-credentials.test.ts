/**
 * A proof kind's credential headers (core/src/engine/proof-kind.ts `credentialHeaders`): what an
 * allow removes before the request goes on (docs/envoy-integration.md, docs/middleware.md). The
 * names are checked where a kind declares them, so a kind cannot name one a proxy would not remove.
 */
import { strict as assert } from 'node:assert';
import { PROOF_KINDS } from '../../core/src/engine/kinds/index.js';
import { credentialHeaderNames } from '../../core/src/engine/proof-kind.js';

describe('proof kinds: credential headers', () => {
  it('names, for each kind the verifier knows, exactly the headers its credential and proof travel in', () => {
    assert.deepEqual(
      PROOF_KINDS.map((k) => [k.name, [...k.credentialHeaders]]),
      [
        ['transcript-v1', ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256']],
        ['dpop', ['authorization', 'dpop']],
      ],
    );
    for (const k of PROOF_KINDS) assert.ok(Object.isFrozen(k.credentialHeaders), k.name);
  });

  it('refuses a name Envoy would not remove, an identity header, another case, or a repeat, each with one line naming it', () => {
    for (const bad of ['Authorization', 'host', ':authority', 'x-trustplane-subject', 'x-trustplane-other', 'dpop header', '']) {
      assert.throws(() => credentialHeaderNames('dpop', bad), (e: Error) => e.message === `credential header name ${JSON.stringify(bad)}: not a lower-case field name a proxy can remove, or repeated`, bad);
    }
    assert.throws(() => credentialHeaderNames('dpop', 'dpop'), /"dpop": not a lower-case field name a proxy can remove, or repeated/);
    assert.deepEqual(credentialHeaderNames('authorization', 'x-trustplane-proof'), ['authorization', 'x-trustplane-proof']);
  });
});
