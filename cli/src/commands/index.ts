/** Every subcommand, in the order `trustplane --help` lists them. */
import type { Command } from '../command.js';
import { demoCommand } from './demo.js';
import { serverCommand } from './server.js';

export const COMMANDS: readonly Command[] = [serverCommand, demoCommand];
