// What `docker build` does with this repository, reproduced without a Docker engine:
// - the build context, computed from .dockerignore with Docker's documented rules
//   (https://docs.docker.com/build/concepts/context/#dockerignore-files): one pattern per line, `#`
//   comments, surrounding whitespace and a leading `/` dropped, paths cleaned (Go filepath.Clean),
//   Go filepath.Match syntax (`*`, `?`, `[...]`, `\` escapes) plus `**` for any number of
//   directories, a pattern that matches a directory excluding everything below it, `!` re-including,
//   and the last matching line deciding;
// - the Dockerfile's stages, with line continuations, ARG defaults substituted into FROM.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

interface Rule {
  readonly negate: boolean;
  readonly re: RegExp;
  readonly text: string;
}

/** Go filepath.Match syntax plus Docker's `**`, compiled to an anchored RegExp over slash paths. */
export function patternToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?'; // `**/` matches zero or more directories
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      re += escapeRe(pattern[i] as string);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new Error(`.dockerignore: unterminated [ in ${pattern}`);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      re += `[${negated ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = end;
    } else {
      re += escapeRe(c);
    }
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function parseDockerignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#')) continue;
    let line = raw.trim();
    if (line === '') continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    line = posix.normalize(line.replace(/^\/+/, ''));
    line = line.replace(/^(\.\.\/)+/, '').replace(/\/$/, '');
    if (line === '.' || line === '') continue;
    rules.push({ negate, re: patternToRegExp(line), text: raw.trim() });
  }
  return rules;
}

/** True when `.dockerignore` leaves `path` (a file, relative, with `/`) out of the context. */
export function isIgnored(rules: readonly Rule[], path: string): boolean {
  const parts = path.split('/');
  let ignored = false;
  for (const rule of rules) {
    // A pattern matches the path itself or any directory above it.
    let hit = false;
    for (let n = 1; n <= parts.length && !hit; n++) hit = rule.re.test(parts.slice(0, n).join('/'));
    if (hit) ignored = !rule.negate;
  }
  return ignored;
}

/** The files of a clean checkout: tracked plus untracked-but-not-gitignored (what a commit would hold). */
export function checkoutFiles(repo: string): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo });
  return out.toString('utf8').split('\0').filter((f) => f !== '');
}

/** Copies the build context Docker would send into `dest`; returns the relative paths copied. */
export function materializeContext(repo: string, dest: string, dockerignore: string, files: readonly string[] = checkoutFiles(repo)): string[] {
  const rules = parseDockerignore(dockerignore);
  const kept: string[] = [];
  for (const file of files) {
    if (isIgnored(rules, file)) continue;
    const to = join(dest, file);
    mkdirSync(dirname(to), { recursive: true });
    try {
      copyFileSync(join(repo, file), to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted in the work tree, not yet committed
      throw e;
    }
    kept.push(file);
  }
  return kept;
}

export interface Instruction {
  readonly op: string;
  readonly args: string;
}

export interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

/** Dockerfile stages with continuations joined and global ARG defaults substituted into FROM. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comment lines inside a continuation are dropped, as Docker does
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  const args = new Map<string, string>();
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (m === null) continue;
    const op = (m[1] as string).toUpperCase();
    const rest = m[2] as string;
    if (op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = rest.split('=', 2) as [string, string?];
      args.set(k.trim(), v.trim());
      continue;
    }
    if (op === 'FROM') {
      const fm = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (fm === null) throw new Error(`Dockerfile: cannot read FROM ${rest}`);
      const image = (fm[1] as string).replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args.get((a ?? b) as string) ?? '');
      stages.push({ from: image, name: fm[2], instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ op, args: rest });
  }
  return stages;
}
