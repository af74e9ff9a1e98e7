import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { fromB64url, parseJsonObject, sha256 } from '../../core/src/encoding.js';

/** docs/transcript-v1.md §2, rule by rule: the alphabet, no length of 1 mod 4, zero unused bits. */
function strictB64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bits = text.length % 4 === 2 ? 4 : text.length % 4 === 3 ? 2 : 0;
  const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(text.slice(-1));
  if (bits > 0 && (last & ((1 << bits) - 1)) !== 0) return undefined;
  return Buffer.from(text, 'base64url');
}

describe('fromB64url', () => {
  const cases: [string, number[] | undefined][] = [
    ['', []],
    ['AA', [0]],
    ['AAA', [0, 0]],
    ['AAAA', [0, 0, 0]],
    ['_-8', [0xff, 0xef]],
    ['AB', undefined], // unused bits set
    ['AAB', undefined],
    ['A', undefined], // 1 mod 4
    ['AA==', undefined], // padding
    ['+/8', undefined], // the other alphabet
    ['AA AA', undefined],
    ['AA\nAA', undefined],
    ['AA.A', undefined],
    ['AAA\u00c0', undefined],
    ['\u0100AAA', undefined],
  ];
  for (const [text, want] of cases) {
    it(`${want ? 'decodes' : 'refuses'} ${JSON.stringify(text)}`, () => assert.deepEqual(fromB64url(text), want && Buffer.from(want)));
  }
  it('accepts exactly the canonical encodings, and decodes them to their bytes', () => {
    const unit = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''), 'A', 'g', 'Q', 'w', '+', '/', '=', ' ', '.', '\u00e9');
    fc.assert(fc.property(fc.string({ unit, maxLength: 30 }), (text) => assert.deepEqual(fromB64url(text), strictB64url(text))), { numRuns: 5000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => assert.deepEqual(fromB64url(Buffer.from(bytes).toString('base64url')), Buffer.from(bytes))));
  });
});

describe('sha256', () => {
  it('is SHA-256 of the UTF-8 bytes of a string, or of the bytes given', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 50 }), fc.uint8Array({ maxLength: 80 }), (s, b) => {
        assert.deepEqual(sha256(s), createHash('sha256').update(s, 'utf8').digest());
        assert.deepEqual(sha256(b), createHash('sha256').update(b).digest());
      }),
    );
  });
});

describe('parseJsonObject', () => {
  it('gives every object a null prototype, at any depth and inside arrays', () => {
    const v = parseJsonObject('{"a":{"b":[{"c":1},[{"d":2}]]},"e":[1,"x",null]}');
    assert.ok(v);
    const a = v.a as Record<string, unknown>;
    const list = a.b as unknown[];
    assert.equal(Object.getPrototypeOf(v), null);
    assert.equal(Object.getPrototypeOf(a), null);
    assert.equal(Object.getPrototypeOf(list[0]), null);
    assert.equal(Object.getPrototypeOf((list[1] as unknown[])[0]), null);
    assert.ok(Array.isArray(list) && Array.isArray(list[1]) && Array.isArray(v.e));
    assert.deepEqual(JSON.parse(JSON.stringify(v)), { a: { b: [{ c: 1 }, [{ d: 2 }]] }, e: [1, 'x', null] });
  });
  it('keeps "__proto__" an ordinary own member and inherits nothing', () => {
    const v = parseJsonObject('{"__proto__":{"alg":"none"},"kid":"k"}');
    assert.ok(v);
    assert.equal(v.alg, undefined);
    assert.deepEqual(Object.keys(v), ['__proto__', 'kid']);
    assert.equal(Object.getPrototypeOf(v.__proto__), null);
    assert.equal((v.__proto__ as Record<string, unknown>).alg, 'none');
    assert.equal(v.toString, undefined);
    assert.equal(v.constructor, undefined);
  });
  it('refuses anything but a JSON object, without throwing', () => {
    for (const text of ['[]', '1', '"s"', 'null', 'true', '', '{', '{"a":1}x', '{"a":1,}']) assert.equal(parseJsonObject(text), undefined, text);
  });
  it('refuses an object nested too deeply to walk, without throwing', () => {
    const depth = 500_000;
    assert.equal(parseJsonObject(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`), undefined);
  });
});
