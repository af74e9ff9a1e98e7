/** Every subcommand, in the order `trustplane --help` lists them. */
import type { Command } from '../command.js';
import { serverCommand } from './server.js';

export const COMMANDS: readonly Command[] = [serverCommand];
