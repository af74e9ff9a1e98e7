/** `trustplane echo`: the upstream stand-in that answers with what reached it (lab, demos, tests). */
import { startEcho } from '../../../gateway/src/echo.js';
import { UsageError, bool, parseArgs, str } from '../args.js';
import type { Command } from '../command.js';
import { parseIntFlag } from '../files.js';
import { listenAddress, untilSignal } from '../lifecycle.js';

export const echoCommand: Command = {
  name: 'echo',
  summary: 'run the echo upstream (answers with the method, path, headers and body hash it got)',
  usage: `trustplane echo [--listen HOST:PORT | --port N] [--json]

  An HTTP server that answers every request with JSON {method, path, headers, body_bytes,
  body_sha256}, so you can see exactly what a gateway forwarded. Runs until SIGTERM or SIGINT.
  --listen HOST:PORT  default 127.0.0.1:8080 (port 0 picks a free port)
  --port N            shorthand for --listen 0.0.0.0:N (all interfaces: for containers)
  --json              print the bound address as {"url": …} instead of a sentence`,
  async run(argv, io) {
    const p = parseArgs(argv, { listen: { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' } });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
    const listen = str(p, 'listen');
    const port = parseIntFlag(str(p, 'port'), '--port', 0, 65535);
    if (listen !== undefined && port !== undefined) throw new UsageError('give --listen or --port, not both');
    const address = listen !== undefined ? listenAddress(listen, '--listen') : port !== undefined ? `0.0.0.0:${port}` : '127.0.0.1:8080';
    const echo = await startEcho(address);
    io.out(bool(p, 'json') ? `${JSON.stringify({ url: echo.url })}\n` : `echo upstream listening on ${echo.url}\n`);
    untilSignal(io, 'the echo upstream', () => echo.close());
    return undefined;
  },
};
