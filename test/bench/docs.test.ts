/**
 * docs/performance.md explains what `npm run bench` prints. Keep it in step with the bench: every
 * section it lists is a bench module that `npm run bench` runs, and every line of the server
 * section it explains is a line bench/server.ts prints.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';

const doc = readFileSync(join(PACKAGE_ROOT, 'docs/performance.md'), 'utf8');

/** First-column cells of the markdown table that follows `heading`. */
function firstColumn(heading: string): string[] {
  const at = doc.indexOf(heading);
  assert.ok(at >= 0, `docs/performance.md has no "${heading}"`);
  const table: string[] = [];
  // The heading row, the separator row, then rows up to the first line that is not one.
  for (const row of doc.slice(at).split('\n').slice(2)) {
    if (!row.startsWith('| ')) break;
    table.push(row.split('|')[1]!.trim().replace(/`/g, ''));
  }
  return table;
}

describe('docs/performance.md', () => {
  it('lists exactly the bench modules `npm run bench` runs', () => {
    const run = readFileSync(join(PACKAGE_ROOT, 'bench/run.ts'), 'utf8');
    const modules = /const MODULES = \[([^\]]*)\]/.exec(run)![1]!.match(/'([^']+)'/g)!.map((m) => m.slice(1, -1));
    assert.deepEqual(firstColumn('| section |'), modules);
  });

  it('explains only lines bench/server.ts prints', () => {
    const server = readFileSync(join(PACKAGE_ROOT, 'bench/server.ts'), 'utf8');
    const lines = firstColumn('| line |');
    assert.ok(lines.length >= 10, `only ${lines.length} lines explained`);
    for (const line of lines) assert.ok(server.includes(line.replace('500', '${OPEN_RATE_PER_S}')) || server.includes(line), `bench/server.ts prints no "${line}"`);
  });

  it('explains only lines bench/overload.ts prints, and every one of them', () => {
    const overload = readFileSync(join(PACKAGE_ROOT, 'bench/overload.ts'), 'utf8');
    const lines = firstColumn('| overload line |');
    for (const line of lines) assert.ok(overload.includes(`  ${line}`), `bench/overload.ts prints no "${line}"`);
    const printed = [...overload.matchAll(/console\.log\(\s*`  ([a-z][a-z ,%()]*?)(?:\s{2,}|:)/g)].map((m) => m[1]!.trim());
    assert.deepEqual(printed.filter((p) => !lines.includes(p)), [], 'lines printed but not explained');
  });
});
