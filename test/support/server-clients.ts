/**
 * Talking to a running authz server over its real sockets: a raw Check client (optionally on its
 * own HTTP/2 connection), a grpc.health.v1 client, and the ops port (HTTP GET, Prometheus text).
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { CHECK_PATH, decodeOfficialCheckResponse, type OfficialCheckResponse } from './envoy-api.js';

export interface CheckClient {
  check(bytes: Uint8Array, deadlineMs?: number): Promise<OfficialCheckResponse>;
  checkBytes(bytes: Uint8Array, deadlineMs?: number): Promise<Buffer>;
  close(): void;
}

/**
 * A raw Check client. `ownConnection` gives it a private subchannel pool, so several clients open
 * several HTTP/2 connections (grpc-js shares one per target otherwise) — that is how load is spread
 * over cluster workers, which each accept whole connections.
 */
export function makeCheckClient(address: string, opts: { ownConnection?: boolean } = {}): CheckClient {
  const options: grpc.ChannelOptions = opts.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {};
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
  const checkBytesFn = (bytes: Uint8Array, deadlineMs = 5000): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest<Uint8Array, Buffer>(
        CHECK_PATH,
        (m) => Buffer.from(m),
        (r) => r,
        bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, response) => {
          if (err !== null) reject(err);
          else if (response === undefined) reject(new Error('empty response'));
          else resolve(response);
        },
      );
    });
  return {
    checkBytes: checkBytesFn,
    check: async (bytes, deadlineMs) => decodeOfficialCheckResponse(await checkBytesFn(bytes, deadlineMs)),
    close: () => client.close(),
  };
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const HEALTH_NAMES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** grpc.health.v1.Health/Check, encoded by hand (one string field in, one enum field out). */
export function healthCheck(address: string, service = '', deadlineMs = 3000): Promise<HealthStatus> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const w = protobuf.Writer.create();
  if (service !== '') w.uint32(10).string(service);
  const request = Buffer.from(w.finish());
  return new Promise<HealthStatus>((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      '/grpc.health.v1.Health/Check',
      (m) => m,
      (r) => r,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, response) => {
        client.close();
        if (err !== null) return reject(err);
        const r = protobuf.Reader.create(response ?? Buffer.alloc(0));
        let status = 0;
        while (r.pos < r.len) {
          const tag = r.uint32();
          if (tag >>> 3 === 1) status = r.int32();
          else r.skipType(tag & 7);
        }
        resolve(HEALTH_NAMES[status] ?? 'UNKNOWN');
      },
    );
  });
}

export async function httpGet(address: string, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text exposition → samples (comments skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include every `labels` pair. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  return parseMetrics(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
