import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { checkPublicJwk, exportPrivateJwk, generateSigningKey, importPrivateJwk, JwkError, jwkThumbprint, parseKeySet, toPublicJwk, type JwkProblem } from '../../core/src/keys.js';
import {
  be32,
  edEncode,
  edNonCanonical,
  edNotOnCurve,
  edRecoverX,
  ED_P,
  fromBe,
  otherSpellings,
  p256OnCurve,
  P256_P,
  smallOrderEncodings,
  trailingBitSpellings,
} from '../support/hostile-keys.js';

function refused(jwk: unknown, code: JwkProblem, context: 'bare' | 'public' = 'public'): void {
  assert.throws(() => checkPublicJwk(jwk, context), (e: unknown) => {
    assert.ok(e instanceof JwkError, String(e));
    assert.equal(e.code, code, `${JSON.stringify(jwk)}: ${e.message}`);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

describe('the one key import path (core/src/keys.ts)', function () {
  this.timeout(60_000);
  const ed = generateSigningKey('EdDSA');
  const p256 = generateSigningKey('ES256');
  const edBare = { kty: 'OKP', crv: 'Ed25519', x: ed.publicJwk.x };
  const ecBare = { kty: 'EC', crv: 'P-256', x: p256.publicJwk.x, y: p256.publicJwk.y! };

  it('accepts canonical Ed25519 and P-256 keys and gives the canonical bare JWK and its RFC 7638 thumbprint', () => {
    const a = checkPublicJwk(edBare, 'bare');
    assert.deepEqual(a.jwk, edBare);
    assert.equal(a.alg, 'EdDSA');
    assert.equal(a.jkt, jwkThumbprint(ed.publicJwk));
    const b = checkPublicJwk({ ...ecBare, kid: 'k1', alg: 'ES256', use: 'sig', key_ops: ['verify'] });
    assert.deepEqual(b.jwk, ecBare);
    assert.equal(b.alg, 'ES256');
    assert.ok(b.key.equals(p256.publicKey));
  });

  describe('canonical base64url only (RFC 7515 §2, RFC 4648 §5)', () => {
    it('refuses all three other spellings of a 43-character x (non-zero unused bits)', () => {
      const spellings = trailingBitSpellings(edBare.x);
      assert.equal(spellings.length, 3);
      for (const x of spellings) {
        assert.equal(Buffer.from(x, 'base64url').toString('base64url'), edBare.x, 'a lenient decoder reads the same key');
        refused({ ...edBare, x }, 'jwk_encoding_invalid');
        refused({ ...ecBare, x: trailingBitSpellings(ecBare.x)[0] }, 'jwk_encoding_invalid');
        refused({ ...ecBare, y: trailingBitSpellings(ecBare.y)[0] }, 'jwk_encoding_invalid');
      }
    });
    it('refuses padding, the standard alphabet, whitespace and characters outside the alphabet', () => {
      for (const x of otherSpellings(edBare.x)) refused({ ...edBare, x }, 'jwk_encoding_invalid');
      refused({ ...edBare, x: `${edBare.x.slice(0, 42)}+` }, 'jwk_encoding_invalid');
      refused({ ...edBare, x: 'A'.repeat(42) }, 'jwk_encoding_invalid');
      refused({ ...edBare, x: 'A'.repeat(44) }, 'jwk_encoding_invalid');
      refused({ ...edBare, x: 42 }, 'jwk_encoding_invalid');
    });
    it('property: every 43-character text other than the canonical spelling of x is refused', () => {
      fc.assert(
        fc.property(fc.stringMatching(/^[A-Za-z0-9_\-+/=. ]{43}$/), (x) => {
          if (x === edBare.x) return;
          const canonical = Buffer.from(x, 'base64url').toString('base64url') === x;
          let k: ReturnType<typeof checkPublicJwk> | undefined;
          try {
            k = checkPublicJwk({ ...edBare, x }, 'bare');
          } catch (e) {
            assert.ok(e instanceof JwkError, String(e));
            // Any other spelling is refused for its encoding, before the point is looked at.
            if (!canonical) assert.equal(e.code, 'jwk_encoding_invalid', x);
          }
          if (k !== undefined) {
            // Accepted only when the text is the one canonical spelling of its own bytes.
            assert.ok(canonical, x);
            assert.equal(k.jwk.x, x);
          }
        }),
        { numRuns: 300 },
      );
    });
    it('property: any change to the last character of x either names another key or is refused', () => {
      fc.assert(
        fc.property(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), (c) => {
          const x = edBare.x.slice(0, 42) + c;
          let jkt: string | undefined;
          try {
            jkt = checkPublicJwk({ ...edBare, x }, 'bare').jkt;
          } catch (e) {
            assert.ok(e instanceof JwkError, String(e));
            // Nonzero unused bits: refused for the spelling, whatever point the bytes would be.
            if (Buffer.from(x, 'base64url').toString('base64url') !== x) assert.equal(e.code, 'jwk_encoding_invalid', x);
          }
          // Two accepted spellings of one key would give two thumbprints: never.
          if (jkt !== undefined && x !== edBare.x) assert.notDeepEqual(Buffer.from(x, 'base64url'), Buffer.from(edBare.x, 'base64url'));
        }),
      );
    });
    it('computes thumbprints only of canonical coordinates', () => {
      for (const x of trailingBitSpellings(edBare.x)) assert.throws(() => jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }), { code: 'jwk_encoding_invalid' });
    });
  });

  describe('Ed25519 points (RFC 8032 §5.1.3)', () => {
    let small: ReturnType<typeof smallOrderEncodings> = [];
    before(() => {
      small = smallOrderEncodings();
    });
    it('finds all fourteen small-order encodings: eight points, two negative zeros, four with y ≥ p', () => {
      assert.equal(small.length, 14, small.map((s) => s.name).join('\n'));
    });
    it('refuses every small-order encoding, canonical or not, as cnf and as a trust key', () => {
      for (const s of small) {
        const y = Buffer.from(s.x, 'base64url');
        y[31]! &= 0x7f;
        const code: JwkProblem = fromLe(y) >= ED_P ? 'jwk_point_not_canonical' : 'jwk_point_small_order';
        refused({ kty: 'OKP', crv: 'Ed25519', x: s.x }, code, 'bare');
        refused({ kty: 'OKP', crv: 'Ed25519', x: s.x, kid: 'k' }, code, 'public');
      }
    });
    it('refuses non-canonical encodings (y ≥ p) of ordinary points, both sign bits', () => {
      const list = edNonCanonical();
      assert.ok(list.length >= 3);
      for (const n of list) {
        refused({ kty: 'OKP', crv: 'Ed25519', x: n.x }, 'jwk_point_not_canonical');
        const signed = Buffer.from(n.x, 'base64url');
        signed[31]! |= 0x80;
        refused({ kty: 'OKP', crv: 'Ed25519', x: signed.toString('base64url') }, 'jwk_point_not_canonical');
      }
      refused({ kty: 'OKP', crv: 'Ed25519', x: edEncode((1n << 255n) - 1n, 1).toString('base64url') }, 'jwk_point_not_canonical');
    });
    it('refuses a y that is on no point', () => {
      refused({ kty: 'OKP', crv: 'Ed25519', x: edNotOnCurve().x }, 'jwk_point_invalid');
    });
    it('property: a random 32-byte x is accepted exactly when it decodes to a point of large order', () => {
      const smallSet = new Set(small.map((s) => s.x));
      // What RFC 8032 §5.1.3 and the small-order list say of x, worked out apart from core/src/keys.ts.
      const expected = (x: string): JwkProblem | 'accepted' => {
        const b = Buffer.from(x, 'base64url');
        const sign = b[31]! >> 7;
        b[31]! &= 0x7f;
        const y = fromLe(b);
        if (y >= ED_P) return 'jwk_point_not_canonical';
        if (smallSet.has(x)) return 'jwk_point_small_order';
        return edRecoverX(y, sign) === undefined ? 'jwk_point_invalid' : 'accepted';
      };
      // Random bytes alone never hit a small-order or a y ≥ p encoding: mix those in.
      const xs = fc.oneof(
        fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
        fc.constantFrom(...small.map((s) => s.x)),
        fc.constantFrom(...edNonCanonical().map((n) => n.x), edNotOnCurve().x, edBare.x),
      );
      fc.assert(
        fc.property(xs, (x) => {
          let got: string;
          try {
            checkPublicJwk({ kty: 'OKP', crv: 'Ed25519', x }, 'bare');
            got = 'accepted';
          } catch (e) {
            assert.ok(e instanceof JwkError, String(e));
            got = e.code;
          }
          assert.equal(got, expected(x), x);
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('P-256 points (SEC 1 §3.2.2.1)', () => {
    it('refuses coordinates at or above p, and (0, 0) standing for the identity', () => {
      refused({ ...ecBare, x: be32(fromBe(ecBare.x) + P256_P < 1n << 256n ? fromBe(ecBare.x) + P256_P : P256_P) }, 'jwk_point_not_canonical');
      refused({ ...ecBare, y: be32(P256_P) }, 'jwk_point_not_canonical');
      refused({ ...ecBare, x: be32(0n), y: be32(0n) }, 'jwk_point_invalid');
    });
    it('property: random coordinate pairs off the curve are refused', () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: P256_P - 1n }), fc.bigInt({ min: 0n, max: P256_P - 1n }), (x, y) => {
          fc.pre(!p256OnCurve(x, y));
          refused({ ...ecBare, x: be32(x), y: be32(y) }, 'jwk_point_invalid');
        }),
        { numRuns: 200 },
      );
    });
    it('property: a valid key with one coordinate bit flipped is refused', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 511 }), (bit) => {
          const x = fromBe(ecBare.x) ^ (bit < 256 ? 1n << BigInt(bit) : 0n);
          const y = fromBe(ecBare.y) ^ (bit >= 256 ? 1n << BigInt(bit - 256) : 0n);
          fc.pre(!p256OnCurve(x, y));
          assert.throws(() => checkPublicJwk({ ...ecBare, x: be32(x), y: be32(y) }), JwkError);
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('members', () => {
    it('refuses every private member where a public key belongs', () => {
      for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
        refused({ ...edBare, [m]: 'AAAA' }, 'jwk_private_member');
        refused({ ...ecBare, [m]: 'AAAA' }, 'jwk_private_member', 'bare');
      }
    });
    it('takes kty and crv exactly', () => {
      refused({ ...edBare, kty: 'okp' }, 'jwk_kty_unsupported');
      refused({ ...edBare, crv: 'ed25519' }, 'jwk_crv_unsupported');
      refused({ ...edBare, crv: 'Ed448' }, 'jwk_crv_unsupported');
      refused({ ...ecBare, crv: 'P-384' }, 'jwk_crv_unsupported');
      refused({ kty: 'RSA', n: 'AQAB', e: 'AQAB' }, 'jwk_kty_unsupported');
      refused(null, 'jwk_not_object');
      refused([edBare], 'jwk_not_object');
    });
    it('allows kid, alg, use and key_ops with their only meaningful values, and nothing else, in a public key', () => {
      refused({ ...edBare, y: ecBare.y }, 'jwk_member_unknown');
      refused({ ...edBare, ext: true }, 'jwk_member_unknown');
      refused({ ...edBare, x5c: [] }, 'jwk_member_unknown');
      refused({ ...edBare, alg: 'ES256' }, 'jwk_member_invalid');
      refused({ ...edBare, use: 'enc' }, 'jwk_member_invalid');
      refused({ ...edBare, key_ops: ['sign'] }, 'jwk_member_invalid');
      refused({ ...edBare, key_ops: ['verify', 'verify'] }, 'jwk_member_invalid');
      refused({ ...edBare, kid: '' }, 'jwk_member_invalid');
      refused({ ...edBare, kid: 'a b' }, 'jwk_member_invalid');
      refused({ ...ecBare, x: undefined }, 'jwk_member_missing');
      refused({ kty: 'EC', crv: 'P-256', x: ecBare.x }, 'jwk_member_missing');
    });
    it('allows nothing but kty, crv, x (and y) in a bare cnf key', () => {
      for (const extra of [{ kid: 'k' }, { alg: 'EdDSA' }, { use: 'sig' }, { key_ops: ['verify'] }]) refused({ ...edBare, ...extra }, 'jwk_member_unknown', 'bare');
    });
  });

  describe('private keys', () => {
    it('imports a canonical private JWK and refuses one whose x is not the key of its d', () => {
      const priv = exportPrivateJwk(ed);
      assert.equal(importPrivateJwk(priv).publicJwk.x, ed.publicJwk.x);
      const other = generateSigningKey('EdDSA');
      assert.throws(() => importPrivateJwk({ ...priv, x: other.publicJwk.x }), { code: 'jwk_public_mismatch' });
      const ec = exportPrivateJwk(p256);
      assert.throws(() => importPrivateJwk({ ...ec, y: be32(P256_P - fromBe(ec.y!)) }), { code: 'jwk_public_mismatch' });
    });
    it('refuses a non-canonical d, a P-256 scalar out of range, and foreign private members', () => {
      const priv = exportPrivateJwk(ed);
      for (const d of trailingBitSpellings(priv.d)) assert.throws(() => importPrivateJwk({ ...priv, d }), { code: 'jwk_encoding_invalid' });
      const ec = exportPrivateJwk(p256);
      assert.throws(() => importPrivateJwk({ ...ec, d: be32(0n) }), { code: 'jwk_point_invalid' });
      assert.throws(() => importPrivateJwk({ ...ec, d: be32(0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n) }), { code: 'jwk_point_invalid' });
      assert.throws(() => importPrivateJwk({ ...priv, p: 'AAAA' }), { code: 'jwk_private_member' });
      assert.throws(() => importPrivateJwk({ ...priv, d: undefined }), { code: 'jwk_member_missing' });
    });
  });

  describe('key sets and key files', () => {
    it('refuses a private key in a signing-key set instead of reducing it', () => {
      assert.throws(() => parseKeySet({ keys: [ed.publicJwk, exportPrivateJwk(p256)] }), {
        code: 'jwk_private_member',
        message: 'key 1: a public key must not carry the private member "d"',
      });
    });
    it('refuses a small-order key in a signing-key set, naming its index', () => {
      const identity = smallOrderEncodings()[0]!;
      assert.throws(() => parseKeySet({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: identity.x }] }), { message: /^key 0: / });
    });
    it('reduces a private key file to its public part only when the whole private key is sound', () => {
      const priv = exportPrivateJwk(ed);
      assert.deepEqual(toPublicJwk(priv), ed.publicJwk);
      assert.throws(() => toPublicJwk({ ...priv, x: trailingBitSpellings(priv.x)[0] }), { code: 'jwk_encoding_invalid' });
    });
  });
});

function fromLe(b: Buffer): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}
