/**
 * Shared helpers for the wasm-filter tests: where the built filter is, how to drive one request
 * through the host emulator, and the expected header value computed with node:crypto.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { ProxyWasmHost } from '../../dev/gateway/proxy-wasm-host.js';
import type { HeaderPairs, ProxyWasmHostOptions, ProxyWasmStream, WasmModule } from '../../dev/gateway/proxy-wasm-host.js';

/** The repository root (this file runs from dist/test/support/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RELEASE_WASM = `${REPO_ROOT}wasm-filter/build/trustplane_filter.wasm`;
export const DEBUG_WASM = `${REPO_ROOT}wasm-filter/build/trustplane_filter.debug.wasm`;
export const HASH_HEADER = 'x-trustplane-body-sha256';

/** The header value the filter must produce: unpadded base64url SHA-256. */
export function expectedDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

export function loadFilter(
  config: string | object | null = null,
  options: ProxyWasmHostOptions = {},
  wasm: string = RELEASE_WASM,
): Promise<ProxyWasmHost> {
  return ProxyWasmHost.load(wasm, config, options);
}

export interface RequestPlan {
  readonly headers?: HeaderPairs;
  /** The body as delivered, chunk by chunk; [] means a body-less request (end of stream on headers). */
  readonly chunks: readonly Uint8Array[];
  /** Send an extra empty chunk carrying end_of_stream. */
  readonly emptyFinalChunk?: boolean;
  /** End with trailers instead of end_of_stream on the last chunk. */
  readonly trailers?: HeaderPairs;
}

/** Sends headers (and the body, if any); the stream is left open for inspection. */
export function startRequest(host: ProxyWasmHost, plan: RequestPlan): ProxyWasmStream {
  const stream = host.newStream(plan.headers ?? [[':method', 'POST'], [':path', '/upload'], [':authority', 'api.test']]);
  const bodyless = plan.chunks.length === 0 && plan.trailers === undefined && !plan.emptyFinalChunk;
  stream.sendHeaders(bodyless);
  return stream;
}

export function sendBody(stream: ProxyWasmStream, plan: RequestPlan): void {
  const bodyless = plan.chunks.length === 0 && plan.trailers === undefined && !plan.emptyFinalChunk;
  if (bodyless) return;
  const endsWithChunk = plan.trailers === undefined && !plan.emptyFinalChunk;
  plan.chunks.forEach((chunk, i) => stream.sendBody(chunk, endsWithChunk && i === plan.chunks.length - 1));
  if (plan.emptyFinalChunk) stream.sendBody(new Uint8Array(0), plan.trailers === undefined);
  if (plan.trailers !== undefined) stream.sendTrailers(plan.trailers);
}

/** Runs a whole request through the filter and closes the stream. */
export function runRequest(host: ProxyWasmHost, plan: RequestPlan): ProxyWasmStream {
  const stream = startRequest(host, plan);
  sendBody(stream, plan);
  stream.close();
  return stream;
}

export { splitAt } from './bytes.js';

let probe: Promise<WasmModule> | null = null;

/** Compiles test/wasm-filter/fixtures/probe-filter.as once per run. */
export function probeModule(): Promise<WasmModule> {
  probe ??= (async () => {
    const source = await readFile(`${REPO_ROOT}test/wasm-filter/fixtures/probe-filter.as`, 'utf8');
    const result = await asc.compileString(
      { 'probe.ts': source },
      { runtime: 'stub', exportStart: '_initialize', use: ['abort='], optimizeLevel: 1 },
    );
    if (result.error !== null || result.binary === null) {
      throw new Error(`probe filter did not compile: ${result.error?.message ?? ''}\n${result.stderr.toString()}`);
    }
    const wasmApi = (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<WasmModule> } }).WebAssembly;
    return wasmApi.compile(result.binary);
  })();
  return probe;
}
