import { strict as assert } from 'node:assert';
import { parseJsonObject } from '../../core/src/encoding.js';

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
