/**
 * Every subcommand, in the order `trustplane --help` lists them. Each is loaded only when it runs:
 * the server, broker and gateway pull in gRPC, X.509 and WebAssembly, which a `trustplane sign`
 * should not wait for.
 */
import type { Command } from '../command.js';

export interface CommandEntry {
  readonly name: string;
  load(): Promise<Command>;
}

const entry = <K extends string>(name: string, load: () => Promise<Record<K, Command>>, key: K): CommandEntry => ({
  name,
  load: async () => (await load())[key],
});

export const COMMANDS: readonly CommandEntry[] = [
  entry('keygen', () => import('./keygen.js'), 'keygenCommand'),
  entry('issue', () => import('./issue.js'), 'issueCommand'),
  entry('sign', () => import('./sign.js'), 'signCommand'),
  entry('request', () => import('./request.js'), 'requestCommand'),
  entry('verify', () => import('./verify.js'), 'verifyCommand'),
  entry('bundle', () => import('./bundle.js'), 'bundleCommand'),
  entry('server', () => import('./server.js'), 'serverCommand'),
  entry('broker', () => import('./broker.js'), 'brokerCommand'),
  entry('up', () => import('./up.js'), 'upCommand'),
  entry('demo', () => import('./demo.js'), 'demoCommand'),
  entry('lab-init', () => import('./lab-init.js'), 'labInitCommand'),
  entry('echo', () => import('./echo.js'), 'echoCommand'),
];
