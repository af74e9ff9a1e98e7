/** Every subcommand, in the order `trustplane --help` lists them. */
import type { Command } from '../command.js';
import { brokerCommand } from './broker.js';
import { bundleCommand } from './bundle.js';
import { demoCommand } from './demo.js';
import { echoCommand } from './echo.js';
import { issueCommand } from './issue.js';
import { keygenCommand } from './keygen.js';
import { labInitCommand } from './lab-init.js';
import { requestCommand } from './request.js';
import { serverCommand } from './server.js';
import { signCommand } from './sign.js';
import { upCommand } from './up.js';
import { verifyCommand } from './verify.js';

export const COMMANDS: readonly Command[] = [
  keygenCommand,
  issueCommand,
  signCommand,
  requestCommand,
  verifyCommand,
  bundleCommand,
  serverCommand,
  brokerCommand,
  upCommand,
  demoCommand,
  labInitCommand,
  echoCommand,
];
