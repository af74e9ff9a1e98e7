/**
 * What one decision costs in-process, against what it cannot avoid: the two native signature
 * verifications (passport by the issuer key, proof by the holder key) that node:crypto does for it.
 * Target (issue 2): decision / native ≤ 1.3, i.e. everything else the engine does — parsing,
 * hashing, canonicalising, policy, the replay consume, the audit event — costs under 30 % of them.
 *
 * Method: every request is signed before timing starts (a decision consumes its jti, so none can be
 * reused); samples are batches of BATCH operations; the figure is the median over SAMPLES of the
 * per-operation mean of each batch, after a warm-up. Native verification runs on the same keys and
 * the same bytes the decisions verified.
 */
import { verify } from 'node:crypto';
import { compileBundle } from '../core/src/bundle/compile.js';
import { buildBundle } from '../core/src/bundle/edit.js';
import { verifyRequest } from '../core/src/engine/verify.js';
import { parseCompact } from '../core/src/jws.js';
import { generateSigningKey } from '../core/src/keys.js';
import { issuePassport } from '../core/src/passport.js';
import { parseProof } from '../core/src/proof.js';
import { MemoryReplayStore } from '../core/src/replay/memory.js';
import { collectHeaders, signRequest } from '../core/src/sign-request.js';
import { HEADER, type RequestView } from '../core/src/types.js';

const BATCH = 200;
const SAMPLES = 40;
const WARMUP_BATCHES = 10;
const TARGET_RATIO = 1.3;

const ISSUER = 'https://issuer.bench.test';
const TRUST_DOMAIN = 'bench.test';
const AUDIENCE = 'https://payments.bench.test';
const SUBJECT = 'spiffe://bench.test/ns/shop/sa/checkout';

interface Item {
  readonly view: RequestView;
  /** The bytes and signatures the decision verifies, for the native baseline. */
  readonly passportInput: Buffer;
  readonly passportSig: Buffer;
  readonly transcript: Buffer;
  readonly proofSig: Buffer;
}

function setup(count: number, nowMs: number) {
  const issuer = generateSigningKey('EdDSA');
  const holder = generateSigningKey('EdDSA');
  const nowS = Math.floor(nowMs / 1000);
  const built = buildBundle({
    issuedAt: nowS - 60,
    expiresAt: nowS + 86_400,
    keys: [{ kid: issuer.kid, issuer: ISSUER, trust_domain: TRUST_DOMAIN, max_key_binding: 'software', jwk: issuer.publicJwk }],
    routes: [
      {
        id: 'payments-create',
        match: { methods: ['POST'], path: '/v1/payments' },
        audience: AUDIENCE,
        allowed_sources: [{ issuer: ISSUER, trust_domain: TRUST_DOMAIN, subject: 'spiffe://bench.test/ns/shop/sa/*' }],
        required_key_binding: 'software',
        freshness_class: 'bounded',
        bound_headers: ['content-type'],
      },
    ],
  });
  if (!built.ok) throw new Error(`bench bundle invalid: ${built.problems.join('; ')}`);
  const bundle = compileBundle(built.bundle);
  const body = Buffer.from('{"amount":100,"currency":"EUR","reference":"order-8842"}');
  const items: Item[] = [];
  for (let i = 0; i < count; i++) {
    const passport = issuePassport({ key: issuer, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: holder.publicJwk, keyBinding: 'software', nowMs });
    const request = { method: 'POST', authority: 'api.bench.test', pathAndQuery: '/v1/payments?expand=customer', headers: { 'content-type': 'application/json', 'user-agent': 'bench/1' }, body };
    const s = signRequest(request, { passport, holder, route: 'payments-create', bindHeaders: ['content-type'], nowMs });
    const headers = collectHeaders(request.headers);
    headers.set(HEADER.passport, s.headers[HEADER.passport]);
    headers.set(HEADER.proof, s.headers[HEADER.proof]);
    const jws = parseCompact(passport)!;
    const proof = parseProof(s.headers[HEADER.proof]);
    if (!proof.ok) throw new Error('bench proof does not parse');
    items.push({
      view: { method: 'POST', scheme: 'https', authority: request.authority, path: request.pathAndQuery, headers, body: { kind: 'bytes', bytes: body, partial: false } },
      passportInput: jws.signingInput,
      passportSig: jws.signature,
      transcript: s.transcript.bytes,
      proofSig: proof.proof.signature,
    });
  }
  return { bundle, issuer, holder, items };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const us = (ns: number): string => `${(ns / 1000).toFixed(1)} µs`;

export interface CoreBenchResult {
  readonly decisionNs: number;
  readonly nativeNs: number;
  readonly ratio: number;
}

/**
 * Wall-clock by default. `cpu` times batches by this process's CPU time instead, which a loaded
 * machine (other processes preempting this one) disturbs far less: use it to compare two builds.
 */
export type BenchClock = 'wall' | 'cpu';

const clocks: Record<BenchClock, () => number> = {
  wall: () => Number(process.hrtime.bigint()),
  cpu: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  },
};

export async function measureCore(samples = SAMPLES, batch = BATCH, clock: BenchClock = 'wall'): Promise<CoreBenchResult> {
  const now = clocks[clock];
  const nowMs = Date.now();
  const total = (samples + WARMUP_BATCHES) * batch;
  const { bundle, issuer, holder, items } = setup(total, nowMs);
  const store = new MemoryReplayStore({ maxEntries: total + 1, generationStartMs: -Infinity });

  // Native baseline: the two verifications, same keys, same bytes.
  const nativeBatch = (from: number): number => {
    let ok = 0;
    const t0 = now();
    for (let i = from; i < from + batch; i++) {
      const it = items[i]!;
      if (verify(null, it.passportInput, issuer.publicKey, it.passportSig)) ok++;
      if (verify(null, it.transcript, holder.publicKey, it.proofSig)) ok++;
    }
    const ns = (now() - t0) / batch;
    if (ok !== 2 * batch) throw new Error('native verification failed in the bench');
    return ns;
  };

  let next = 0;
  const decisionBatch = async (): Promise<number> => {
    let denied = 0;
    const from = next;
    next += batch;
    const t0 = now();
    for (let i = from; i < from + batch; i++) {
      const d = await verifyRequest({ view: items[i]!.view, bundle, store, nowMs });
      if (d.reason !== 'ok') denied++;
    }
    const ns = (now() - t0) / batch;
    if (denied > 0) throw new Error(`${denied} bench decisions were not ok`);
    return ns;
  };

  for (let b = 0; b < WARMUP_BATCHES; b++) {
    nativeBatch(b * batch);
    await decisionBatch();
  }
  // Interleaved, so drift in machine load affects both series alike.
  const decisions: number[] = [];
  const natives: number[] = [];
  for (let s = 0; s < samples; s++) {
    natives.push(nativeBatch((WARMUP_BATCHES + s) * batch));
    decisions.push(await decisionBatch());
  }
  const decisionNs = median(decisions);
  const nativeNs = median(natives);
  return { decisionNs, nativeNs, ratio: decisionNs / nativeNs };
}

export async function bench(): Promise<void> {
  console.log(`core: one decision in-process (verifyRequest, memory store; ${SAMPLES} samples × ${BATCH}, median of batch means)`);
  const r = await measureCore();
  console.log(`  decision (verifyRequest)                    ${us(r.decisionNs)}`);
  console.log(`  native verifications (2 × Ed25519 verify)    ${us(r.nativeNs)}`);
  console.log(`  ratio decision / native                      ${r.ratio.toFixed(3)}  (target ≤ ${TARGET_RATIO}: ${r.ratio <= TARGET_RATIO ? 'met' : 'NOT met'})`);
}
