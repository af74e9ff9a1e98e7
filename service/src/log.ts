/**
 * The operational log of the server and the broker: one JSON object per line on stderr (the
 * server's stdout carries audit events). Nothing secret reaches a line:
 * every message and field goes through the one redaction list (core/src/redact.ts: secret key
 * names such as `password`, `token`, `private_key`, a JWK's private members, anything shaped like a
 * JWS, the password in a URL, PEM private keys, control characters), the list audit events use too.
 */
import { redactForLog } from '../../core/src/server-api.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** `base` fields go on every line (the broker's `component`). */
export function createLogger(level: Level = 'info', write: (line: string) => void = (l) => process.stderr.write(l), base: Record<string, unknown> = {}): Logger {
  const min = RANK[level];
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    const safe = redactForLog({ ...base, ...fields }) as Record<string, unknown>;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, pid: process.pid, msg: String(redactForLog(msg)), ...safe })}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export function errorFields(error: unknown): Record<string, unknown> {
  return error instanceof Error ? { error: error.message, error_name: error.name } : { error: String(error) };
}
