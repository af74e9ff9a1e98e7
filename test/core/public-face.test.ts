/**
 * The core's two entries are the only way into it from the product code (README "Layout";
 * core/src/index.ts and core/src/server-api.ts say the rule at their top):
 * - a file in authz-server/, broker/, cli/, sdk/, middleware/, gateway/ or service/ imports core only
 *   as core/src/index.js, core/src/server-api.js or core/src/package-root.js — never a module behind
 *   them, never core/src/lib/;
 * - the files compiled into the SDK package (sdk/src/index.ts and what it imports outside core)
 *   import core/src/index.js only;
 * - everything core/src/index.ts reaches imports Node.js built-ins only (no ioredis, grpc-js, …),
 *   so the SDK package that compiles it stays free of the server's dependencies.
 * The scanner is checked first on sources that break each rule, so a scanner that sees nothing
 * cannot pass.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';

const PRODUCT_DIRS = ['authz-server', 'broker', 'cli', 'sdk', 'middleware', 'gateway', 'service'];
const CORE = join(PACKAGE_ROOT, 'core', 'src');
const ENTRIES = ['index.js', 'server-api.js', 'package-root.js'];

/** Every module specifier in a source, as TypeScript's own pre-processor reads it (comments and strings skipped): static and type imports, re-exports, import(), import types, require(). */
function specifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** The path (relative to core/src, `/`-separated) a specifier in `file` names inside core, or undefined. */
function coreTarget(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = resolve(dirname(file), spec);
  return target.startsWith(CORE + sep) ? relative(CORE, target).split(sep).join('/') : undefined;
}

/** The imports of core in `source` (as if at `file`) that do not go through an entry: "file → target". */
function violations(file: string, source: string): string[] {
  return specifiers(source)
    .map((spec) => coreTarget(file, spec))
    .filter((t): t is string => t !== undefined && !ENTRIES.includes(t))
    .map((t) => `${relative(PACKAGE_ROOT, file)} → core/src/${t}`);
}

function sources(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist') sources(p, out);
    } else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** `spec` (a relative `.js` specifier) as the TypeScript source it compiles from. */
function sourceOf(file: string, spec: string): string {
  return resolve(dirname(file), spec).replace(/\.js$/, '.ts');
}

/** Every TypeScript file reachable from `start` by relative imports, staying inside `within`. */
function reachable(start: string, within: (f: string) => boolean): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [start];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    const specs = specifiers(readFileSync(f, 'utf8'));
    seen.set(f, specs);
    for (const s of specs) {
      if (!s.startsWith('.')) continue;
      const next = sourceOf(f, s);
      if (within(next)) todo.push(next);
    }
  }
  return seen;
}

describe('the core is imported only through its entries (core/src/index.ts, core/src/server-api.ts)', () => {
  it('the scanner flags a deep import, an import of core/src/lib/, a re-export and a dynamic import (not comments or strings)', () => {
    const file = join(PACKAGE_ROOT, 'authz-server', 'src', 'example.ts');
    const source = [
      "import { verifyRequest } from '../../core/src/engine/verify.js';",
      "import type { Decision } from '../../core/src/index.js';",
      "import {\n  isOnCurve,\n} from '../../core/src/lib/curve-points.js';",
      "export { HEADER } from '../../core/src/types.js';",
      "const m = await import('../../core/src/replay/redis.js');",
      "import { edgeDecision } from '../../core/src/server-api.js';",
      "import { other } from './core/src/keys.js';",
      "// a comment: import { x } from '../../core/src/keys.js';",
      "const s = \"import { x } from '../../core/src/keys.js'\";",
    ].join('\n');
    assert.deepEqual(violations(file, source), [
      'authz-server/src/example.ts → core/src/engine/verify.js',
      'authz-server/src/example.ts → core/src/lib/curve-points.js',
      'authz-server/src/example.ts → core/src/types.js',
      'authz-server/src/example.ts → core/src/replay/redis.js',
    ]);
  });

  it('no product source imports a core module behind the entries (prints how many imports it checked)', () => {
    const files = PRODUCT_DIRS.flatMap((d) => sources(join(PACKAGE_ROOT, d)));
    const throughEntries = files.flatMap((f) => specifiers(readFileSync(f, 'utf8')).filter((s) => coreTarget(f, s) !== undefined));
    console.log(`      ${files.length} product sources, ${throughEntries.length} imports of core`);
    assert.ok(files.length > 50 && throughEntries.length > 30, `the scan saw ${files.length} files and ${throughEntries.length} core imports`);
    assert.deepEqual(files.flatMap((f) => violations(f, readFileSync(f, 'utf8'))), []);
  });

  it('the SDK package\'s sources (sdk/src/index.ts and what it imports) use core/src/index.js only', () => {
    const outsideCore = (f: string): boolean => f.startsWith(PACKAGE_ROOT + sep) && !f.startsWith(CORE + sep) && existsSync(f);
    const files = reachable(join(PACKAGE_ROOT, 'sdk', 'src', 'index.ts'), outsideCore);
    assert.ok(files.size >= 2, `reached ${[...files.keys()].join(', ')}`);
    const wrong = [...files].flatMap(([f, specs]) => specs.filter((s) => coreTarget(f, s) !== undefined && coreTarget(f, s) !== 'index.js').map((s) => `${relative(PACKAGE_ROOT, f)} → ${s}`));
    assert.deepEqual(wrong, []);
  });

  it('what core/src/index.ts reaches imports Node.js built-ins only (the SDK package compiles all of it)', () => {
    const files = reachable(join(CORE, 'index.ts'), (f) => f.startsWith(CORE + sep));
    assert.ok(files.size >= 10, `reached ${files.size} files`);
    const external = [...files].flatMap(([f, specs]) => specs.filter((s) => !s.startsWith('.') && !s.startsWith('node:')).map((s) => `${relative(PACKAGE_ROOT, f)} → ${s}`));
    assert.deepEqual(external, []);
    // The same walk from server-api.ts does find the Redis store's ioredis: the walk is not blind to it.
    const server = reachable(join(CORE, 'server-api.ts'), (f) => f.startsWith(CORE + sep));
    assert.ok([...server.values()].some((specs) => specs.includes('ioredis')), 'server-api.ts no longer reaches ioredis');
  });
});
