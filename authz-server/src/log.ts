/**
 * Operational log: one JSON object per line on stderr (stdout carries audit events). Every field
 * goes through the one redaction list, so a token that slips into an error message is masked.
 */
import { redactForLog } from '../../core/src/redact.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: Level = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = RANK[level];
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    const safe = fields ? (redactForLog(fields) as Record<string, unknown>) : {};
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
