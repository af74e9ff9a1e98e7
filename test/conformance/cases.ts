/**
 * The requests the conformance gate has every signer sign (docs/conformance.md): generated from a
 * fixed seed, so a failure names a case that can be reproduced, and built to cover what the spec's
 * canonical forms absorb — unicode and percent-encoded paths, repeated and key-only query
 * parameters, odd header whitespace and repeated headers, binary and empty bodies, every method,
 * default and explicit ports, both holder key types.
 */

export interface GateCase {
  readonly id: string;
  readonly method: string;
  readonly authority: string;
  readonly path_and_query: string;
  /** As the client sends them: original case, whitespace and repetition. */
  readonly headers: [string, string][];
  readonly body_base64: string;
  readonly bind_headers: string[];
  readonly holder: 'holder_ed' | 'holder_p256';
}

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const AUTHORITIES = ['api.example.test', 'API.Example.TEST', 'api.example.test:443', 'api.example.test:80', 'api.example.test:8443', 'Api.Example.Test:08443'];

const PATHS = [
  '/v1/items',
  '/v1/items/',
  '/v1/caf%c3%a9/%E2%82%AC',
  '/v1/café/ü',
  '/v1/%7Euser/%41bc',
  '/v1/a+b/100%25',
  "/v1/!$&'()*+,=:@",
  '/v1/sp%20ace/tab%7E',
  '/v1/%e6%97%a5%e6%9c%ac',
  '/v1/x-y_z.~',
];

const QUERIES = [
  '',
  '?b=2&a=1',
  '?q=3&q=1&a=z',
  '?&q=1&&e=&',
  '?flag&flag=&flag=1',
  '?x=a+b&x=a%20b&x=a%2Bb',
  '?q=%7e%41&Q=upper',
  '?k=caf\u00e9&k2=%C3%A9',
  '?a=%26&b=%3D&c=?',
  '?z=1&y=2&x=3&w=4',
];

/** Header sets as a client might send them; the second element lists the names to bind. */
const HEADER_SETS: [[string, string][], string[]][] = [
  [[], []],
  [[['Content-Type', 'application/json']], ['content-type']],
  [[['Content-Type', '  application/json\t']], ['content-type']],
  [[['X-List', 'a'], ['x-list', ' b '], ['X-LIST', 'c\t']], ['x-list']],
  [[['X-Note', 'café, "quoted" 100%']], ['x-note']],
  [[['Accept', 'text/html, application/json'], ['X-Tenant', 't-42']], ['accept', 'x-tenant']],
  [[['X-Empty', ''], ['X-B', 'b']], ['x-b', 'x-empty']],
  [[['X-Unbound', 'not signed'], ['X-Signed', 'signed']], ['x-signed']],
];

/** A small deterministic generator (mulberry32), so the cases are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function body(kind: number, rnd: () => number): Buffer {
  switch (kind % 5) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.from('{"amount":"12.50","currency":"EUR"}\n');
    case 2:
      return Buffer.from(Array.from({ length: 257 }, () => Math.floor(rnd() * 256)));
    case 3:
      return Buffer.from('naïve café ✓', 'utf8');
    default:
      return Buffer.alloc(4096 + Math.floor(rnd() * 100), 0x61);
  }
}

export function gateCases(count = 60, seed = 0x7e57): GateCase[] {
  const rnd = prng(seed);
  const cases: GateCase[] = [];
  for (let i = 0; i < count; i++) {
    const method = METHODS[i % METHODS.length]!;
    const [headers, bind] = HEADER_SETS[i % HEADER_SETS.length]!;
    const noBody = method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
    cases.push({
      id: `c${String(i).padStart(2, '0')}-${method.toLowerCase()}`,
      method,
      authority: AUTHORITIES[Math.floor(rnd() * AUTHORITIES.length)]!,
      path_and_query: PATHS[i % PATHS.length]! + QUERIES[Math.floor(rnd() * QUERIES.length)]!,
      headers: headers.map(([n, v]) => [n, v]),
      body_base64: (noBody ? Buffer.alloc(0) : body(i, rnd)).toString('base64'),
      bind_headers: [...bind],
      holder: i % 2 === 0 ? 'holder_ed' : 'holder_p256',
    });
  }
  return cases;
}
