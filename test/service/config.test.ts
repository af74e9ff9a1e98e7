import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ConfigReader, readConfigFile } from '../../service/src/config.js';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.message, `invalid configuration:\n  - ${e.problems.join('\n  - ')}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('service: the configuration reader', () => {
  it('collects every problem, one line each starting with the dotted path, and throws them at once', () => {
    const r = new ConfigReader({ a: { b: 'x', c: 70_000, unknown: 1 }, flag: 'yes', list: ['ok', ''], at: 'nowhere', hosts: [{ host: 'h' }] });
    r.section('', ['a', 'flag', 'list', 'at', 'hosts']);
    r.section('a', ['b', 'c']);
    const value = { b: r.oneOf('a.b', ['y', 'z'] as const, 'y'), c: r.int('a.c', 1, 1, 65_535), flag: r.bool('flag', false), list: r.strList('list', []), at: r.listen('at', '127.0.0.1:1', true), hosts: r.hostPorts('hosts') };
    assert.deepEqual(problemsOf(() => r.finish(value)), [
      'a.unknown: unknown setting',
      'a.b: must be one of y, z',
      'a.c: must be an integer from 1 to 65535',
      'flag: must be true or false',
      'list: must be a list of non-empty strings',
      'at: must be host:port, [ipv6]:port or unix:/absolute/path',
      'hosts[0]: must be {host: string, port: number}',
    ]);
    for (const p of r.problems) assert.ok(!p.includes('\n'));
  });

  it('takes numbers and booleans as text only with textScalars (environment variables and flags are text)', () => {
    const raw = { n: '42', t: 'true', f: '0' };
    const text = new ConfigReader(raw, { textScalars: true });
    assert.deepEqual(text.finish({ n: text.int('n', 0, 0, 99), t: text.bool('t', false), f: text.bool('f', true) }), { n: 42, t: true, f: false });
    const strict = new ConfigReader(raw);
    strict.int('n', 0, 0, 99);
    strict.bool('t', false);
    assert.deepEqual(strict.problems, ['n: must be an integer from 0 to 99', 't: must be true or false']);
  });

  it('reads an empty value as unset only with nullIsUnset, and refuses a top level that is no mapping', () => {
    const lenient = new ConfigReader({ s: null, sec: null }, { nullIsUnset: true });
    lenient.section('sec', []);
    assert.deepEqual(lenient.finish({ s: lenient.str('s', 'dflt') }), { s: 'dflt' });
    const strict = new ConfigReader({ s: null, sec: null });
    strict.section('sec', []);
    strict.str('s', 'dflt');
    assert.deepEqual(strict.problems, ['sec: must be a mapping', 's: must be a non-empty string']);
    assert.deepEqual(new ConfigReader(['a list']).problems, ['the configuration file must hold a mapping at the top level']);
  });

  it('freezes what it returns', () => {
    const r = new ConfigReader({});
    const v = r.finish({ a: { b: [1] } });
    assert.ok(Object.isFrozen(v) && Object.isFrozen(v.a) && Object.isFrozen(v.a.b));
  });

  it('names the file (and what named it) when it cannot be read or parsed, in one problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-config-'));
    try {
      assert.deepEqual(problemsOf(() => readConfigFile(join(dir, 'none.yaml'), '--config')), [`--config ${join(dir, 'none.yaml')}: no such file`]);
      assert.deepEqual(problemsOf(() => readConfigFile(dir)), [`${dir}: is a directory`]);
      writeFileSync(join(dir, 'dup.yaml'), 'a: 1\na: 2\n');
      assert.match(problemsOf(() => readConfigFile(join(dir, 'dup.yaml'), 'TRUSTPLANE_CONFIG'))[0]!, /^TRUSTPLANE_CONFIG .*dup\.yaml: not valid YAML\/JSON \(.+\)$/);
      writeFileSync(join(dir, 'ok.json'), '{"a": {"b": [1, 2]}}');
      assert.deepEqual(readConfigFile(join(dir, 'ok.json')), { a: { b: [1, 2] } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
