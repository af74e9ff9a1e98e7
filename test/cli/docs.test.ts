/** docs/cli.md keeps up with the commands: a section per command and subcommand, every option named. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../cli/src/commands/index.js';
import { REPO_ROOT } from '../support/envoy-api.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'cli.md'), 'utf8');
/** Documented in their own pages (configuration.md, the demo's --help); cli.md links there. */
const DOCUMENTED_ELSEWHERE = new Set(['server', 'demo']);

describe('docs/cli.md', () => {
  it('has a section for every command and bundle subcommand', () => {
    for (const c of COMMANDS) assert.ok(DOC.includes(`### \`trustplane ${c.name}\``), c.name);
    for (const sub of ['build', 'merge-source', 'remove-source', 'sign', 'verify', 'inspect']) assert.ok(DOC.includes(`### \`bundle ${sub}\``), sub);
  });

  it('names every option each command accepts', async () => {
    for (const c of await Promise.all(COMMANDS.map((e) => e.load()))) {
      if (DOCUMENTED_ELSEWHERE.has(c.name)) continue;
      for (const flag of new Set(c.usage.match(/--[a-z][a-z-]*/g) ?? [])) assert.ok(DOC.includes(flag), `${c.name} ${flag}`);
    }
  });

  it('states the exit codes', () => {
    assert.match(DOC, /\*\*Exit codes\*\*: `0` ok .*`1` denied, refused or failed; `2` usage/s);
  });
});
