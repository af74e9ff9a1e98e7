/**
 * Runs the committed transcript-v1 vectors (test/vectors/transcript-v1.json) against the code. The
 * file is frozen expectations: this test never regenerates it, so a change to the canonical forms,
 * the line layout or a reason code shows up here as a failure. Regenerate on purpose with
 * `node dist/dev/vectors/gen-vectors.js` (docs/transcript-v1.md, "Test vectors").
 */
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { vectorHeaderMap, vectorRequestView, vectorSurroundings, type EnvoyRequest, type PositiveVector, type VectorEnvironment, type VectorFile } from '../../dev/vectors/format.js';
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import { validateBundle } from '../../core/src/bundle/validate.js';
import { sha256b64url, sha256hex } from '../../core/src/encoding.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { checkPublicJwk, importPrivateJwk, importPublicJwk, JwkError, jwkThumbprint, signBytes, verifyBytes } from '../../core/src/keys.js';
import { parseProof } from '../../core/src/proof.js';
import { REASON_CODES } from '../../core/src/reasons.js';
import { readPassportClaims } from '../../core/src/sign-request.js';
import { buildTranscript, type TranscriptInput } from '../../core/src/transcript.js';
import { HEADER } from '../../core/src/types.js';

const repoRoot = (): string => PACKAGE_ROOT;

const vectors = JSON.parse(readFileSync(join(repoRoot(), 'test', 'vectors', 'transcript-v1.json'), 'utf8')) as VectorFile;
const NOW_MS = vectors.now * 1000;

/**
 * Envoy's `headers` map: repeated names joined with a bare "," in arrival order
 * (docs/envoy-integration.md F1.2).
 */


/** The body hash a verifier takes from an Envoy request that it allows on route `routeId`. */
function bodyHashOf(r: EnvoyRequest, routeId: string): string {
  switch (r.body.source) {
    case 'bytes':
      return sha256b64url(Buffer.from(r.body.base64, 'base64'));
    case 'filter_header':
      return vectorHeaderMap(r.headers).map.get(HEADER.bodySha256)!;
    case 'empty':
      return sha256b64url(Buffer.alloc(0));
    case 'unavailable':
      // Only a route that takes no body binds the empty hash without observing the body.
      assert.equal(bundle.route(routeId)?.body?.mode, 'empty', `route ${routeId} needs an observed body`);
      return sha256b64url(Buffer.alloc(0));
  }
}

/** transcript-v1 input rebuilt from the Envoy-shaped request, the proof, and the passport. */
function rebuiltInput(v: PositiveVector): TranscriptInput {
  const parsed = parseProof(v.proof);
  assert.ok(parsed.ok, `${v.id}: proof parses`);
  const p = parsed.proof;
  const claims = readPassportClaims(v.signing.passport);
  const { map } = vectorHeaderMap(v.request.headers);
  const routeId = v.request.route_id ?? v.signing.route;
  return {
    method: v.request.method,
    authority: v.request.authority,
    pathAndQuery: v.request.path,
    headers: p.h.map((n) => [n, map.get(n)!] as const),
    bodySha256: bodyHashOf(v.request, routeId),
    nonce: p.nonce,
    audience: claims.aud,
    routeId,
    jti: claims.jti,
    passportSha256: sha256b64url(v.signing.passport),
    ts: p.ts,
    keyBinding: claims.key_binding,
    cnfJkt: jwkThumbprint(claims.cnf.jwk),
  };
}

let bundle: CompiledBundle;

async function decide(r: EnvoyRequest, before = 0, env?: VectorEnvironment): Promise<string> {
  const { bundle: inUse, store } = vectorSurroundings(env, bundle, NOW_MS);
  try {
    for (let i = 0; i < before; i++) {
      const d = await verifyRequest({ view: vectorRequestView(r), bundle: inUse, store, nowMs: NOW_MS });
      assert.equal(d.reason, 'ok', 'an earlier presentation is allowed');
    }
    return (await verifyRequest({ view: vectorRequestView(r), bundle: inUse, store, nowMs: NOW_MS })).reason;
  } finally {
    await store.close();
  }
}

describe('transcript-v1 vectors (test/vectors/transcript-v1.json)', () => {
  before(() => {
    const checked = validateBundle(vectors.bundle);
    assert.ok(checked.ok, checked.ok ? '' : checked.problems.join('\n'));
    bundle = compileBundle(checked.bundle);
  });

  it('is the transcript-v1 vector format with at least 25 positive and 25 negative vectors', () => {
    assert.equal(vectors.format, 'trustplane-transcript-v1-vectors');
    assert.ok(vectors.positive.length >= 25, `positive: ${vectors.positive.length}`);
    assert.ok(vectors.negative.length >= 25, `negative: ${vectors.negative.length}`);
    const ids = [...vectors.positive, ...vectors.negative].map((v) => v.id);
    assert.equal(new Set(ids).size, ids.length, 'vector ids are unique');
  });

  it('publishes test keys whose public halves and thumbprints match the private ones', () => {
    for (const [name, k] of Object.entries(vectors.keys)) {
      const key = importPrivateJwk(k.private_jwk_test_only, k.kid);
      assert.equal(key.alg, k.alg, name);
      assert.deepEqual({ ...key.publicJwk, kid: undefined, alg: undefined }, { ...k.public_jwk, kid: undefined, alg: undefined }, name);
      assert.equal(jwkThumbprint(k.public_jwk), k.jkt, name);
    }
  });

  it('covers both holder algorithms and every key-binding class', () => {
    assert.deepEqual([...new Set(vectors.positive.map((v) => v.signing.alg))].sort(), ['ES256', 'EdDSA']);
    const classes = new Set(vectors.positive.map((v) => readPassportClaims(v.signing.passport).key_binding));
    assert.deepEqual([...classes].sort(), ['attested_workload', 'hardware_local', 'remote_kms', 'software']);
  });

  it('names only registered reason codes, and a negative vector never expects ok', () => {
    for (const v of vectors.negative) {
      assert.ok((REASON_CODES as readonly string[]).includes(v.reason), `${v.id}: ${v.reason}`);
      assert.notEqual(v.reason, 'ok', v.id);
    }
  });

  it('has one case in test/vectors/cases/ per vector, in the same order, with the same reason (the file is not stale)', () => {
    const cases = (name: string): { id: string; reason?: string }[] => JSON.parse(readFileSync(join(repoRoot(), 'test', 'vectors', 'cases', name), 'utf8'));
    assert.deepEqual(cases('positive.json').map((c) => c.id), vectors.positive.map((v) => v.id));
    assert.deepEqual(cases('negative.json').map((c) => [c.id, c.reason]), vectors.negative.map((v) => [v.id, v.reason]));
    assert.deepEqual(cases('jwk.json').map((c) => c.id), (vectors.jwk ?? []).map((v) => v.id));
  });

  it('is made by a generator that imports no test code (dev/vectors/)', () => {
    for (const f of readdirSync(join(repoRoot(), 'dev', 'vectors')).filter((n) => n.endsWith('.ts'))) {
      const imports = [...readFileSync(join(repoRoot(), 'dev', 'vectors', f), 'utf8').matchAll(/^import [^;]*? from '([^']+)';$/gms)].map((m) => m[1]!);
      assert.ok(imports.length > 0, f);
      assert.deepEqual(imports.filter((i) => /(^|\/)test\//.test(i)), [], `dev/vectors/${f}`);
    }
  });

  describe('positive', () => {
    for (const v of vectors.positive) {
      describe(`${v.id}: ${v.description}`, () => {
        it('rebuilds exactly the transcript text from the request as Envoy presents it', () => {
          const t = buildTranscript(rebuiltInput(v));
          assert.ok(t.ok, t.ok ? '' : `${t.reason}: ${t.detail}`);
          assert.equal(t.value.bytes.toString('utf8'), v.transcript);
          assert.ok(t.value.bytes.equals(Buffer.from(v.transcript, 'utf8')));
        });

        it('has the listed SHA-256', () => {
          assert.equal(sha256hex(Buffer.from(v.transcript, 'utf8')), v.transcript_sha256);
        });

        it('carries a signature by the holder key that verifies over the transcript', () => {
          const parsed = parseProof(v.proof);
          assert.ok(parsed.ok);
          assert.equal(parsed.proof.signature.toString('base64url'), v.signature);
          const holder = vectors.keys[v.signing.holder]!;
          assert.equal(jwkThumbprint(readPassportClaims(v.signing.passport).cnf.jwk), holder.jkt, 'the passport cnf is the holder key');
          const pub = importPublicJwk(holder.public_jwk);
          assert.equal(parsed.proof.signature.length, 64);
          assert.ok(verifyBytes(v.signing.alg, pub, Buffer.from(v.transcript, 'utf8'), parsed.proof.signature));
          if (v.signature_check === 'exact') {
            assert.equal(v.signing.alg, 'EdDSA');
            const priv = importPrivateJwk(holder.private_jwk_test_only);
            assert.equal(signBytes('EdDSA', priv.privateKey, Buffer.from(v.transcript, 'utf8')).toString('base64url'), v.signature);
          }
        });

        it('is allowed by the decision engine', async () => {
          assert.equal(await decide(v.request), 'ok');
        });
      });
    }
  });

  describe('negative', () => {
    for (const v of vectors.negative) {
      it(`${v.id}: ${v.description} → ${v.reason}`, async () => {
        assert.equal(await decide(v.request, v.presentations_before ?? 0, v.environment), v.reason);
      });
    }
  });

  describe('jwk (docs/transcript-v1.md §4.1)', () => {
    it('has accepted and refused keys in both contexts, and reaches passport_cnf_invalid and key_revoked from requests', () => {
      const jwk = vectors.jwk ?? [];
      assert.ok(jwk.some((v) => v.valid) && jwk.some((v) => !v.valid));
      assert.deepEqual([...new Set(jwk.map((v) => v.context))].sort(), ['cnf', 'public']);
      const reasons = new Set(vectors.negative.map((v) => v.reason));
      assert.ok(reasons.has('passport_cnf_invalid') && reasons.has('key_revoked'));
    });
    for (const v of vectors.jwk ?? []) {
      it(`${v.id}: ${v.description} (${v.context}) → ${v.valid ? 'accepted' : 'refused'}`, () => {
        const context = v.context === 'cnf' ? 'bare' : 'public';
        if (v.valid) assert.equal(checkPublicJwk(v.jwk, context).jkt, v.jkt);
        else assert.throws(() => checkPublicJwk(v.jwk, context), JwkError);
      });
    }
  });
});
