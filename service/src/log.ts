/**
 * The operational log of the server and the broker: one JSON object per line on stderr (the
 * server's stdout carries audit events). Nothing secret reaches a line:
 * - every message and field goes through the one redaction list (core/src/redact.ts: secret key
 *   names such as `password`, `token`, `private_key`, a JWK's private members, anything shaped like
 *   a JWS, control characters);
 * - then the finished line loses what only text can carry: the user and password of a URL
 *   (`redis://user:secret@host` becomes `redis://[REDACTED]@host`; a Redis client's error may quote
 *   its URL) and PEM private key blocks (a file read by mistake, quoted in an error).
 */
import { REDACTED, redactForLog } from '../../core/src/server-api.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * URL userinfo (RFC 3986 §3.2.1) in a JSON line: from `://` to `@`, with no `/`, `?`, `#`, space
 * or end of string between. Anchored on the literal `://`, so the scan stays linear.
 */
const URL_USERINFO = /:\/\/(?:[^\s"\\/?#@]|\\.)*@/g;
/** A PEM private key (RFC 7468 §10, §11 and the SEC 1 / PKCS #1 labels), to its END line or to the end of the JSON string. */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:(?!-----END)(?:[^"\\]|\\.))*(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?/g;

/** The text-only rules above, on a finished JSON line. */
export function redactLine(line: string): string {
  let out = line;
  if (out.includes('://')) out = out.replace(URL_USERINFO, `://${REDACTED}@`);
  if (out.includes('PRIVATE KEY-----')) out = out.replace(PEM_PRIVATE_KEY, REDACTED);
  return out;
}

/** `base` fields go on every line (the broker's `component`). */
export function createLogger(level: Level = 'info', write: (line: string) => void = (l) => process.stderr.write(l), base: Record<string, unknown> = {}): Logger {
  const min = RANK[level];
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    const safe = redactForLog({ ...base, ...fields }) as Record<string, unknown>;
    write(`${redactLine(JSON.stringify({ time: new Date().toISOString(), level: lvl, pid: process.pid, msg: String(redactForLog(msg)), ...safe }))}\n`);
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
