/**
 * Every decision records the phase that decided it, and that phase is the one the registry gives
 * its reason code (core/src/reasons.ts, docs/reason-codes.md "Phases"): no code is returned by a
 * phase other than its own. Checked on every transcript-v1 vector, on the decisions the edge makes
 * without the engine, on the internal group wherever it arises, and (test/core/engine.test.ts) on
 * every reason code; test/authz-server/server-decisions.test.ts checks the audit lines of the
 * server's deny cases. Also: a deny's detail says why, and never carries a passport or a proof,
 * in the Decision or in the audit line.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditSink } from '../../authz-server/src/audit-sink.js';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import { validateBundle } from '../../core/src/bundle/validate.js';
import { b64url } from '../../core/src/encoding.js';
import { MAX_DETAIL_LENGTH } from '../../core/src/engine/detail.js';
import { edgeDecision, verifyRequest } from '../../core/src/engine/verify.js';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { REASONS, REASON_CODES, type ReasonCode } from '../../core/src/reasons.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { HEADER, type Decision, type RequestView } from '../../core/src/types.js';
import { vectorRequestView, vectorSurroundings, type EnvoyRequest, type VectorEnvironment, type VectorFile } from '../../dev/vectors/format.js';
import { NOW_MS, makeWorld, passport, signed, view, type World } from '../support/world.js';

const vectors = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'test', 'vectors', 'transcript-v1.json'), 'utf8')) as VectorFile;
const VECTOR_NOW_MS = vectors.now * 1000;

function assertPhase(d: Decision, what: string): void {
  assert.equal(d.phase, REASONS[d.reason].phase, `${what}: ${d.reason} was decided in the ${d.phase} phase (detail: ${d.detail})`);
  assert.equal(d.audit.phase, d.phase, what);
  assert.equal(d.audit.detail, d.detail ?? null, what);
  if (d.reason === 'ok') assert.equal(d.detail, undefined, `${what}: an allow has no detail`);
}

describe('the deciding phase is the registry phase of the reason', () => {
  let bundle: CompiledBundle;
  before(() => {
    const checked = validateBundle(vectors.bundle);
    assert.ok(checked.ok);
    bundle = compileBundle(checked.bundle);
  });

  async function decideVector(r: EnvoyRequest, before: number, env: VectorEnvironment | undefined): Promise<Decision> {
    const { bundle: inUse, store } = vectorSurroundings(env, bundle, VECTOR_NOW_MS);
    try {
      for (let i = 0; i < before; i++) await verifyRequest({ view: vectorRequestView(r), bundle: inUse, store, nowMs: VECTOR_NOW_MS });
      return await verifyRequest({ view: vectorRequestView(r), bundle: inUse, store, nowMs: VECTOR_NOW_MS });
    } finally {
      await store.close();
    }
  }

  it('for every positive and negative vector of test/vectors/transcript-v1.json', async () => {
    const seen = new Set<ReasonCode>();
    for (const v of vectors.positive) {
      const d = await decideVector(v.request, 0, undefined);
      assert.equal(d.reason, 'ok', v.id);
      assert.equal(d.phase, 'decision', v.id);
      assertPhase(d, v.id);
    }
    for (const v of vectors.negative) {
      const d = await decideVector(v.request, v.presentations_before ?? 0, v.environment);
      assert.equal(d.reason, v.reason, v.id);
      assertPhase(d, v.id);
      assert.ok(typeof d.detail === 'string' && d.detail.length > 0, `${v.id}: a deny has a detail`);
      seen.add(d.reason);
    }
    // The vectors reach every group of the registry.
    assert.deepEqual(
      [...new Set([...seen].map((r) => REASONS[r].phase))].sort(),
      ['claims', 'freshness', 'internal', 'parse', 'replay', 'route', 'signature', 'transcript', 'trust'],
    );
  });

  it('names the canonicalisation rule that refused a path, authority or query (docs/transcript-v1.md §6.3–6.5)', async () => {
    const expected: Record<string, [ReasonCode, string]> = {
      'dot-segment': ['path_not_canonical', 'dot segment in path'],
      'double-slash': ['path_not_canonical', 'empty segment ("//") in path'],
      'path-parameter': ['path_not_canonical', 'path parameter (";") in path'],
      'encoded-semicolon': ['path_not_canonical', 'encoded path parameter (";") in path'],
      'double-encoded-dot': ['path_not_canonical', 'double percent-encoding in path'],
      backslash: ['path_not_canonical', 'backslash in path'],
      'bad-escape-query': ['path_not_canonical', 'malformed percent-escape in query'],
      userinfo: ['authority_invalid', 'userinfo in authority'],
    };
    for (const [id, [reason, detail]] of Object.entries(expected)) {
      const v = vectors.negative.find((x) => x.id === id);
      assert.ok(v, id);
      const d = await decideVector(v.request, 0, v.environment);
      assert.equal(d.reason, reason, id);
      assert.equal(d.phase, 'route', id);
      assert.equal(d.detail, detail, id);
      assert.equal(d.audit.detail, detail, id);
    }
  });

  it('for a decision made at the edge, for every reason code', () => {
    for (const reason of REASON_CODES) {
      const d = edgeDecision(reason, { method: 'GET', path: '/x', authority: 'a.example' }, undefined, 'what the edge saw');
      assertPhase(d, `edge ${reason}`);
      if (reason !== 'ok') assert.equal(d.detail, 'what the edge saw');
    }
    const malformed = edgeDecision('request_malformed', {}, undefined, 'undecodable CheckRequest (truncated varint)\nforged line');
    assert.equal(malformed.phase, 'parse');
    assert.equal(malformed.audit.detail, 'undecodable CheckRequest (truncated varint)%0Aforged line', 'control characters are escaped');
    assert.equal(edgeDecision('internal_error').detail, undefined);
    assert.equal(edgeDecision('internal_error').audit.detail, null);
    const long = edgeDecision('request_malformed', {}, undefined, 'x'.repeat(5000));
    assert.equal(long.detail!.length, MAX_DETAIL_LENGTH);
    assert.ok(long.detail!.endsWith('…'));
  });

  describe('the internal group, wherever it arises', () => {
    let w: World;
    before(() => {
      w = makeWorld();
    });
    const store = (): MemoryReplayStore => new MemoryReplayStore({ maxEntries: 100, generationStartMs: -Infinity });

    it('overloaded from the replay phase (no time left of the deadline) is recorded as internal, the detail saying where', async () => {
      // One async consume for every store (docs/performance.md, "Optimisations and their figures"):
      // the memory store is not asked either when nothing is left of the deadline.
      const memory = store();
      const request = view(signed(w));
      const shed = await verifyRequest({ view: request, bundle: w.bundle, store: memory, nowMs: NOW_MS, deadline: performance.now() - 1 });
      assert.equal(shed.reason, 'overloaded');
      assert.equal(shed.phase, 'internal');
      assert.equal(shed.detail, "no time left of Envoy's deadline to ask the replay store (the jti is untouched)");
      // The jti is untouched: the same request with time left is allowed.
      const again = await verifyRequest({ view: request, bundle: w.bundle, store: memory, nowMs: NOW_MS });
      assert.equal(again.reason, 'ok');
    });

    it('an exception in a phase is internal_error, the detail naming the phase and the error type only', async () => {
      const throwing = Object.create(w.bundle, {
        matchRoute: {
          value: () => {
            throw new TypeError(`secret ${passport(w)}`);
          },
        },
      }) as CompiledBundle;
      const d = await verifyRequest({ view: view(signed(w)), bundle: throwing, store: store(), nowMs: NOW_MS });
      assert.equal(d.reason, 'internal_error');
      assert.equal(d.phase, 'internal');
      assert.equal(d.detail, 'unexpected TypeError in the route phase');
    });

    it('no bundle is bundle_unavailable, internal', async () => {
      const d = await verifyRequest({ view: view(signed(w)), bundle: undefined, store: store(), nowMs: NOW_MS });
      assert.equal(d.reason, 'bundle_unavailable');
      assertPhase(d, 'no bundle');
      assert.equal(d.detail, 'no verified bundle is loaded');
    });
  });
});

describe('a deny detail never carries a passport or a proof', () => {
  let w: World;
  before(() => {
    w = makeWorld();
  });

  /** The whole token and each of its parts that is secret on its own. */
  function secretsOf(p: string, proof: string): string[] {
    const [, payload, signature] = p.split('.') as [string, string, string];
    const proofSignature = proof.slice(proof.lastIndexOf('.') + 1);
    return [p, `${payload}.${signature}`, signature, proof, proofSignature];
  }

  function assertClean(d: Decision, secrets: string[], what: string): void {
    assert.notEqual(d.reason, 'ok', what);
    assert.ok(typeof d.detail === 'string' && d.detail.length > 0, `${what}: has a detail`);
    const line = AuditSink.line(d.audit);
    for (const secret of secrets) {
      assert.equal(d.detail.includes(secret), false, `${what}: detail ${d.detail}`);
      assert.equal(line.includes(secret), false, `${what}: audit line`);
    }
  }

  it('when the passport or the proof is planted where a detail quotes the request', async () => {
    const presented = signed(w);
    const p = presented.headers.get(HEADER.passport)!;
    const proof = presented.headers.get(HEADER.proof)!;
    const secrets = secretsOf(p, proof);
    const [h, payload, signature] = p.split('.') as [string, string, string];
    const header = (over: Record<string, unknown>): string => `${b64url(Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'tp-passport+jwt', kid: w.issuerKey.kid, ...over })))}.${payload}.${signature}`;
    const proofWith = (params: Record<string, unknown>): string => `v1.${b64url(Buffer.from(JSON.stringify(params)))}.${proof.slice(proof.lastIndexOf('.') + 1)}`;
    const withHeaders = (over: Record<string, string>): Map<string, string> => new Map([...presented.headers, ...Object.entries(over)]);
    const cases: [string, Partial<RequestView>, ReasonCode][] = [
      ['alg', { headers: withHeaders({ [HEADER.passport]: header({ alg: p }) }) }, 'passport_alg_not_allowed'],
      ['typ', { headers: withHeaders({ [HEADER.passport]: header({ typ: proof }) }) }, 'passport_typ_invalid'],
      ['header member', { headers: withHeaders({ [HEADER.passport]: header({ [p]: 1 }) }) }, 'passport_malformed'],
      ['proof param', { headers: withHeaders({ [HEADER.proof]: proofWith({ ts: 1, nonce: 'A'.repeat(24), route: 'payments-create', h: [], [proof]: 1 }) }) }, 'proof_malformed'],
      ['proof param named by a signature', { headers: withHeaders({ [HEADER.proof]: proofWith({ ts: 1, nonce: 'A'.repeat(24), route: 'payments-create', h: [], [secrets[4]!]: 1 }) }) }, 'proof_malformed'],
      ['alg holding a signature', { headers: withHeaders({ [HEADER.passport]: header({ alg: signature }) }) }, 'passport_alg_not_allowed'],
      ['bound header name', { headers: withHeaders({ [HEADER.proof]: proofWith({ ts: 1, nonce: 'A'.repeat(24), route: 'payments-create', h: [p] }) }) }, 'header_not_bindable'],
      ['method', { method: `GET ${p}` }, 'request_malformed'],
      ['Envoy route id', { routeId: p }, 'route_not_found'],
      ['path', { path: `/v1/payments/../x?t=${p}` }, 'path_not_canonical'],
      ['credential joined with a copy', { headers: withHeaders({ [HEADER.passport]: `${p},${p}` }) }, 'credential_duplicated'],
    ];
    for (const [what, over, reason] of cases) {
      const d = await verifyRequest({ view: view(presented, over), bundle: w.bundle, store: new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity }), nowMs: NOW_MS });
      assert.equal(d.reason, reason, what);
      assertClean(d, secrets, what);
    }
    // The header part alone is not secret, but a detail quotes at most 64 characters of any value.
    assert.ok(h.length > 0);
    // A detail handed in from outside the engine is masked too: a short compact JWS is not cut away.
    const small = `${b64url(Buffer.from('{"alg":"EdDSA","kid":"k"}'))}.${b64url(Buffer.from('{"sub":"s"}'))}.${signature}`;
    assert.ok(small.length < 200);
    const edge = edgeDecision('request_malformed', {}, undefined, `unreadable value ${small}`);
    assertClean(edge, [small, signature], 'edge detail');
    assert.equal(edge.detail, 'unreadable value [REDACTED_JWS]');
  });

  it('on transcript, route and replay denies of a signed request', async () => {
    const presented = signed(w);
    const secrets = secretsOf(presented.headers.get(HEADER.passport)!, presented.headers.get(HEADER.proof)!);
    const store = new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity });
    const cases: [Partial<RequestView>, ReasonCode][] = [
      [{ body: { kind: 'bytes', bytes: Buffer.from('{"amount":1}'), partial: false } }, 'body_mismatch'],
      [{ authority: 'other.example.test' }, 'authority_mismatch'],
      [{ headers: new Map([...presented.headers, ['content-type', presented.headers.get(HEADER.passport)!]]) }, 'header_mismatch'],
      [{ headers: new Map([...presented.headers].filter(([k]) => k !== 'content-type')) }, 'bound_header_missing'],
    ];
    for (const [over, reason] of cases) {
      const d = await verifyRequest({ view: view(presented, over), bundle: w.bundle, store, nowMs: NOW_MS });
      assert.equal(d.reason, reason);
      assertClean(d, secrets, reason);
    }
    assert.equal((await verifyRequest({ view: view(presented), bundle: w.bundle, store, nowMs: NOW_MS })).reason, 'ok');
    const replayed = await verifyRequest({ view: view(presented), bundle: w.bundle, store, nowMs: NOW_MS });
    assert.equal(replayed.reason, 'jti_replay');
    assertClean(replayed, secrets, 'jti_replay');
    const long = signed(w, {}, { passport: passport(w, { lifetimeS: 3000 }) });
    const tooLong = await verifyRequest({ view: view(long), bundle: w.bundle, store, nowMs: NOW_MS });
    assert.equal(tooLong.reason, 'passport_lifetime_exceeded');
    assert.equal(tooLong.detail, 'exp - iat is 3000 s; the route allows 300 s');
    assertClean(tooLong, secretsOf(long.headers.get(HEADER.passport)!, long.headers.get(HEADER.proof)!), 'passport_lifetime_exceeded');
  });
});
