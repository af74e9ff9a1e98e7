// Builds the proxy-wasm filter (wasm-filter/assembly) with the locally installed AssemblyScript
// compiler into wasm-filter/build/: trustplane_filter.wasm (release) and
// trustplane_filter.debug.wasm (debug, with assertions and names).
//
// Flags and why:
//   --exportStart _initialize  cpp-host calls _initialize once after loading
//                              (docs/envoy-integration.md F5.1); global initialisers must not run
//                              from a wasm start section.
//   --use abort=…              Envoy has no env.abort (docs/envoy-integration.md F5.2); route
//                              aborts to our own handler.
//   --runtime incremental      streams allocate small objects and Envoy VMs live for days: the
//                              memory must be reclaimed without a host-driven __collect.
//   -O3 --noAssert --uncheckedBehavior always (release)  speed of the SHA-256 inner loop.
//
// Skipped when nothing changed (npm start / npm run demo should not spend ~8 s recompiling): the
// stamp wasm-filter/build/.build-stamp.json records a SHA-256 over every input — the files under
// wasm-filter/assembly, this script (it holds the flags) and the AssemblyScript compiler's version —
// and a SHA-256 of each output. The build is skipped only when the inputs hash the same and every
// output is present and unchanged; anything else, or `--force` (what `npm test` passes), rebuilds.
// `--check` builds nothing: exit 0 when up to date, 1 when a build is due.
import asc from 'assemblyscript/asc';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const baseDir = join(root, 'wasm-filter');

const common = [
  'assembly/index.ts',
  '--baseDir', baseDir,
  '--exportStart', '_initialize',
  '--use', 'abort=assembly/abort/onAbort',
  '--runtime', 'incremental',
  '--noColors',
];

const targets = [
  {
    name: 'release',
    args: ['--outFile', 'build/trustplane_filter.wasm', '--textFile', 'build/trustplane_filter.wat',
      '-O3', '--converge', '--noAssert', '--uncheckedBehavior', 'always'],
  },
  {
    name: 'debug',
    args: ['--outFile', 'build/trustplane_filter.debug.wasm', '--textFile', 'build/trustplane_filter.debug.wat',
      '--debug', '--sourceMap'],
  },
];

const OUTPUTS = targets.flatMap((t) => [t.args[1], t.args[3]]).concat(['build/trustplane_filter.debug.wasm.map']);
const stampFile = join(baseDir, 'build', '.build-stamp.json');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function filesUnder(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)])));
  return nested.flat().sort();
}

async function inputsDigest() {
  const h = createHash('sha256');
  const ascVersion = JSON.parse(await readFile(join(root, 'node_modules', 'assemblyscript', 'package.json'), 'utf8')).version;
  h.update(`assemblyscript ${ascVersion}\0`);
  for (const file of [fileURLToPath(import.meta.url), ...(await filesUnder(join(baseDir, 'assembly')))]) {
    h.update(`${relative(root, file)}\0`).update(await readFile(file)).update('\0');
  }
  return h.digest('hex');
}

async function outputDigests() {
  const out = {};
  for (const f of OUTPUTS) out[f] = sha256(await readFile(join(baseDir, f)));
  return out;
}

async function upToDate(inputs) {
  try {
    const stamp = JSON.parse(await readFile(stampFile, 'utf8'));
    if (stamp.inputs !== inputs) return false;
    const now = await outputDigests();
    return OUTPUTS.every((f) => stamp.outputs?.[f] === now[f]);
  } catch {
    return false;
  }
}

const force = process.argv.includes('--force');
const inputs = await inputsDigest();
if (process.argv.includes('--check')) {
  const current = await upToDate(inputs);
  process.stdout.write(current ? 'build-wasm: up to date\n' : 'build-wasm: a build is due\n');
  process.exit(current ? 0 : 1);
}
if (!force && (await upToDate(inputs))) {
  process.stdout.write('build-wasm: up to date (inputs unchanged; --force rebuilds)\n');
  process.exit(0);
}

await mkdir(join(baseDir, 'build'), { recursive: true });
// A stamp must never outlive the outputs it vouches for: removed before building, written after.
await rm(stampFile, { force: true });
let failed = false;
for (const target of targets) {
  const { error, stdout, stderr } = await asc.main([...common, ...target.args]);
  const out = stdout.toString();
  const err = stderr.toString();
  if (out) process.stdout.write(out);
  if (err) process.stderr.write(err);
  if (error) {
    process.stderr.write(`build-wasm: ${target.name} failed: ${error.message}\n`);
    failed = true;
  } else {
    process.stdout.write(`build-wasm: ${target.name} → wasm-filter/${target.args[1]}\n`);
  }
}
if (failed) process.exit(1);
await writeFile(stampFile, `${JSON.stringify({ inputs, outputs: await outputDigests() }, null, 2)}\n`);
