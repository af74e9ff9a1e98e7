/**
 * The reason-code registry is API, and docs/reason-codes.md documents it: this test fails when the
 * two disagree in either direction (the registry is core/src/reasons.ts).
 */
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REASONS, REASON_CODES } from '../../core/src/reasons.js';

const repoRoot = (): string => PACKAGE_ROOT;

interface DocRow {
  readonly status: number;
  readonly grpc: number;
  readonly phase: string;
  readonly meaning: string;
}

const GRPC_NAMES: Record<number, string> = { 0: 'OK', 3: 'INVALID_ARGUMENT', 7: 'PERMISSION_DENIED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 16: 'UNAUTHENTICATED' };

/** Rows of the registry table: `| \`code\` | HTTP | gRPC (number and name) | phase | meaning |`. */
export function parseReasonTable(markdown: string): { rows: Map<string, DocRow>; duplicates: string[]; problems: string[] } {
  const rows = new Map<string, DocRow>();
  const duplicates: string[] = [];
  const problems: string[] = [];
  for (const line of markdown.split('\n')) {
    if (!/^\|\s*`[^`]+`\s*\|/.test(line)) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const code = /^`([^`]+)`$/.exec(cells[0]!)?.[1];
    if (cells.length !== 5 || code === undefined) {
      // The "how a code surfaces" table also starts rows with backticks only in its second column.
      if (cells.length === 5) problems.push(`unreadable row: ${line}`);
      continue;
    }
    const grpc = /^(\d+) ([A-Z_]+)$/.exec(cells[2]!);
    if (!/^\d{3}$/.test(cells[1]!) || !grpc) {
      problems.push(`row ${code}: HTTP must be 3 digits and gRPC "<number> <NAME>"`);
      continue;
    }
    if (GRPC_NAMES[Number(grpc[1])] !== grpc[2]) problems.push(`row ${code}: gRPC ${grpc[1]} is not named ${grpc[2]}`);
    if (rows.has(code)) duplicates.push(code);
    rows.set(code, { status: Number(cells[1]), grpc: Number(grpc[1]), phase: cells[3]!, meaning: cells[4]! });
  }
  return { rows, duplicates, problems };
}

describe('docs/reason-codes.md', () => {
  const doc = readFileSync(join(repoRoot(), 'docs', 'reason-codes.md'), 'utf8');
  const { rows, duplicates, problems } = parseReasonTable(doc);

  it('has a readable table with one row per code', () => {
    assert.deepEqual(problems, []);
    assert.deepEqual(duplicates, []);
    assert.ok(rows.size > 0, 'no table rows found');
  });

  it('documents every code of the registry', () => {
    const missing = REASON_CODES.filter((c) => !rows.has(c));
    assert.deepEqual(missing, [], `codes missing from the doc: ${missing.join(', ')}`);
  });

  it('documents no code the registry does not have', () => {
    const extra = [...rows.keys()].filter((c) => !(REASON_CODES as readonly string[]).includes(c));
    assert.deepEqual(extra, [], `codes in the doc but not in core/src/reasons.ts: ${extra.join(', ')}`);
  });

  it('gives each code the HTTP status, gRPC code and phase of the registry', () => {
    const wrong: string[] = [];
    for (const code of REASON_CODES) {
      const row = rows.get(code);
      if (!row) continue;
      const info = REASONS[code];
      if (row.status !== info.status) wrong.push(`${code}: HTTP ${row.status} in the doc, ${info.status} in the registry`);
      if (row.grpc !== info.grpc) wrong.push(`${code}: gRPC ${row.grpc} in the doc, ${info.grpc} in the registry`);
      if (row.phase !== info.phase) wrong.push(`${code}: phase ${row.phase} in the doc, ${info.phase} in the registry`);
    }
    assert.deepEqual(wrong, []);
  });

  it('lists the codes in registry order and explains each one', () => {
    assert.deepEqual([...rows.keys()], [...REASON_CODES]);
    for (const [code, row] of rows) assert.ok(row.meaning.length >= 20, `${code} needs a meaning`);
  });

  it('rejects a table that disagrees with the registry (the parser can fail)', () => {
    const broken = doc.replace('| `jti_replay` | 401 |', '| `jti_replay` | 409 |').replace(/^\| `ok` \|.*$/m, '');
    const parsed = parseReasonTable(broken);
    assert.equal(parsed.rows.get('jti_replay')?.status, 409);
    assert.equal(parsed.rows.has('ok'), false);
  });
});
