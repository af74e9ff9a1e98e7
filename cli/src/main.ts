#!/usr/bin/env node
/**
 * `trustplane`: the one CLI. Every subcommand has --help, fails with a one-line error naming the
 * problem, and exits 0 (ok), 1 (denied or failed) or 2 (usage).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { UsageError } from './args.js';
import type { Command, Io } from './command.js';
import { COMMANDS } from './commands/index.js';

const io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

async function help(): Promise<string> {
  const all = await Promise.all(COMMANDS.map((c) => c.load()));
  const width = Math.max(...all.map((c) => c.name.length));
  return `usage: trustplane <command> [options]\n       trustplane --version\n\ncommands:\n${all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}\n\nRun "trustplane <command> --help" for a command's options.\n`;
}

/** The installed package's version, from its package.json: what `--version` prints. */
function version(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.out(`trustplane ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(await help());
    return name === undefined ? 2 : 0;
  }
  const found = COMMANDS.find((c) => c.name === name);
  if (!found) {
    io.err(`trustplane: unknown command "${name}"\n${await help()}`);
    return 2;
  }
  const cmd: Command = await found.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${cmd.usageFor?.(rest) ?? cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`trustplane ${cmd.name}: ${error.message}\n`);
      return 2;
    }
    io.err(`trustplane ${cmd.name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    io.err(`trustplane: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
