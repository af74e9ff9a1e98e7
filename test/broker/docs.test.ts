import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS } from '../../broker/src/config.js';
import { BROKER_ERRORS } from '../../broker/src/errors.js';

const doc = readFileSync(new URL('../../../docs/broker.md', import.meta.url), 'utf8');

describe('docs/broker.md', () => {
  it('lists exactly the registered error codes, each with its status and summary', () => {
    const section = doc.slice(doc.indexOf('## Error codes'));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    const registry = Object.entries(BROKER_ERRORS).map(([code, info]) => [code, info.status, info.summary]);
    assert.deepEqual(rows, registry);
  });

  it('documents exactly the settings the configuration accepts', () => {
    const section = doc.slice(doc.indexOf('## Configuration'));
    const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| ')));
    const rows = [...table.matchAll(/^\| `([a-z_.]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...rows].sort(), [...CONFIG_KEYS].sort());
  });

  it('names both broker metrics', () => {
    for (const name of ['trustplane_broker_issued_total', 'trustplane_broker_refused_total']) assert.ok(doc.includes(`\`${name}\``), name);
  });
});
