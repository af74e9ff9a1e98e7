/**
 * `npm run bench`: one header naming the machine, then every bench module present, in order. Each
 * module exports `bench(): Promise<void>` and prints its own figures; a module not written (or not
 * built) yet is skipped with a note, so the entry never depends on all of them existing.
 */
import { existsSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';

const MODULES = ['core', 'request-decode', 'wasm', 'server', 'reusable', 'overload', 'middleware'] as const;

interface BenchModule {
  bench(): Promise<void>;
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log('TrustPlane Auth benchmarks');
  console.log(`  date     ${new Date().toISOString()}`);
  console.log(`  node     ${process.version} (${platform()} ${release()})`);
  console.log(`  cpus     ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown'}`);
  console.log(`  memory   ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
  let failed = false;
  for (const name of MODULES) {
    const file = new URL(`./${name}.js`, import.meta.url);
    console.log('');
    if (!existsSync(file)) {
      console.log(`${name}: skipped (bench/${name}.ts is not present)`);
      continue;
    }
    try {
      const mod = (await import(file.href)) as Partial<BenchModule>;
      if (typeof mod.bench !== 'function') {
        console.log(`${name}: skipped (bench/${name}.ts does not export bench())`);
        continue;
      }
      await mod.bench();
    } catch (error) {
      failed = true;
      console.log(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  if (failed) process.exitCode = 1;
}

await main();
