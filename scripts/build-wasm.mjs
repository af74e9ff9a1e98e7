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
import asc from 'assemblyscript/asc';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

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

await mkdir(join(baseDir, 'build'), { recursive: true });
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
