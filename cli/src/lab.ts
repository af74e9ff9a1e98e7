/**
 * What the docker-compose lab expects of `trustplane lab-init --out DIR` (docker-compose.yml,
 * lab/server.yaml, lab/broker.yaml, envoy/envoy.yaml; test/cli/lab-init.test.ts keeps them in step):
 * file names the server and broker configs point at, the broker's issuer and software subject, the
 * route ids Envoy's context_extensions name, and the issuer, audience and subject the demo tour signs
 * with (the development values, so one tour runs against the local stack and the lab alike).
 */
import { DEV } from './dev-state.js';
import type { Route } from '../../core/src/server-api.js';

export const LAB = Object.freeze({
  files: Object.freeze({
    bundle: 'bundle.json',
    signingKeys: 'signing-keys.json',
    bundleSigningKey: 'bundle-signing-key.jwk.json',
    /** lab/broker.yaml key_file */
    brokerKey: 'broker-key.json',
    /** read by `trustplane demo --lab-dir` */
    issuerKey: 'issuer-key.jwk.json',
    holderKey: 'holder-key.jwk.json',
    /** public facts about the lab (no secrets) */
    manifest: 'lab.json',
  }),
  issuer: DEV.issuer,
  trustDomain: DEV.trustDomain,
  audience: DEV.audience,
  subjectPattern: 'spiffe://dev.trustplane.local/ns/demo/sa/*',
  /** lab/broker.yaml: issuer, trust_domain, and the default software.subject (it sets none). */
  brokerIssuer: 'https://broker.trustplane.lab',
  brokerTrustDomain: 'trustplane.lab',
  brokerSubject: 'urn:trustplane:broker:local-caller',
  validForS: 30 * 86_400,
});

/** The routes envoy/envoy.yaml protects, by the ids its context_extensions carry. */
export function labRoutes(): Route[] {
  const sources = [
    { issuer: LAB.issuer, trust_domain: LAB.trustDomain, subject: LAB.subjectPattern },
    { issuer: LAB.brokerIssuer, trust_domain: LAB.brokerTrustDomain, subject: LAB.brokerSubject },
  ];
  const base = { audience: LAB.audience, allowed_sources: sources, required_key_binding: 'software', freshness_class: 'bounded', bound_headers: [] } as const;
  return [
    // envoy/envoy.yaml runs the wasm filter on these two routes (trustplane_body: filter) and has
    // Envoy buffer uploads itself: the bundle says which observation of the body each route trusts.
    { ...base, id: 'payments-create', match: { methods: ['POST'], path: '/v1/payments' }, bound_headers: ['content-type'], body: { mode: 'bound', hash_source: 'filter' } },
    { ...base, id: 'payments-read', match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } },
    { ...base, id: 'uploads-create', match: { methods: ['POST'], path: '/v1/uploads' }, body: { mode: 'bound', max_bytes: 1_048_576 } },
  ];
}
