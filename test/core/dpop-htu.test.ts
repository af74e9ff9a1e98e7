/**
 * The DPoP `htu` comparison (core/src/dpop/htu.ts): RFC 9449 §4.3 check 9 with the normalisation
 * of RFC 3986 §6.2.2–6.2.3, brought to the canonical authority and path of docs/transcript-v1.md
 * §6.3–6.4, and RFC 3986 §5.2.4 remove_dot_segments on the examples of RFC 3986 §5.4.
 */
import { strict as assert } from 'node:assert';
import { normaliseHtu, removeDotSegments } from '../../core/src/dpop/htu.js';

describe('DPoP htu normalisation', () => {
  it('brings equivalent spellings to one target', () => {
    const target = { authority: 'api.example.test', path: '/v1/a~b/42' };
    for (const htu of [
      'https://api.example.test/v1/a~b/42',
      'HTTPS://API.EXAMPLE.TEST/v1/a~b/42',
      'https://api.example.test:443/v1/a%7Eb/42',
      'https://api.example.test:0443/v1/a%7eb/%34%32',
      'http://api.example.test:80/v1/a~b/42',
      'https://api.example.test/v1/a~b/42?q=1',
      'https://api.example.test/v1/a~b/42#f?x',
      'https://api.example.test/v1/./x/../a~b/42',
      'https://api.example.test/v1/%2e/x/%2E%2E/a~b/42',
    ]) {
      assert.deepEqual(normaliseHtu(htu), target, htu);
    }
    assert.deepEqual(normaliseHtu('https://api.example.test'), { authority: 'api.example.test', path: '/' });
    assert.deepEqual(normaliseHtu('https://api.example.test:8443/x'), { authority: 'api.example.test:8443', path: '/x' });
    assert.deepEqual(normaliseHtu('https://[2001:DB8::1]:8443/x'), { authority: '[2001:db8::1]:8443', path: '/x' });
  });

  it('keeps what RFC 3986 does not make equal: path case, reserved escapes, a trailing slash', () => {
    assert.equal(normaliseHtu('https://h/A')?.path, '/A');
    assert.equal(normaliseHtu('https://h/a%2Fb'), undefined, 'an encoded slash is refused, as in a request path');
    assert.equal(normaliseHtu('https://h/a%3db')?.path, '/a%3Db');
    assert.equal(normaliseHtu('https://h/a/')?.path, '/a/');
  });

  it('refuses what names no request the verifier accepts', () => {
    for (const htu of ['', '/v1/a', 'urn:x:y', 'ftp://h/a', 'https://user@h/a', 'https://h:99999/a', 'https:///a', 'https://h/a;b', 'https://h/a//b', `https://h/${'a'.repeat(5000)}`]) {
      assert.equal(normaliseHtu(htu), undefined, htu);
    }
  });

  it('removes dot segments as RFC 3986 §5.2.4 does', () => {
    assert.equal(removeDotSegments('/a/b/c/./../../g'), '/a/g');
    assert.equal(removeDotSegments('/mid/content=5/../6'), '/mid/6');
    assert.equal(removeDotSegments('/../a'), '/a');
    assert.equal(removeDotSegments('/a/..'), '/');
    assert.equal(removeDotSegments('/a/.'), '/a/');
    assert.equal(removeDotSegments('/a.b/c..d'), '/a.b/c..d');
  });
});
