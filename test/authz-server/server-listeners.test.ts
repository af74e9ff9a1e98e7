import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { decodeOfficialCheckResponse, CHECK_PATH } from '../support/envoy-api.js';
import { makeCheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { createTestCa, type TestCa } from '../support/spiffe-ca.js';

const pem = (k: { export(o: object): string | Buffer }): string => String(k.export({ type: 'pkcs8', format: 'pem' }));

function check(client: grpc.Client, bytes: Uint8Array): Promise<{ code: number | undefined }> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Uint8Array, Buffer>(CHECK_PATH, (m) => Buffer.from(m), (r) => r, bytes, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      if (err) reject(err);
      else resolve({ code: decodeOfficialCheckResponse(res!).status?.code ?? 0 });
    });
  });
}

describe('authz server listeners: Unix socket, TLS and mTLS', function () {
  this.timeout(30_000);
  let t: TrustSetup;
  let ca: TestCa;
  const running: InProcessServer[] = [];
  before(async () => {
    t = makeTrust('tp-listeners-');
    t.writeBundle(t.bundle({ serial: 1 }));
    ca = await createTestCa({ trustDomain: 'example.test' });
  });
  after(async () => {
    for (const s of running) await s.server.close();
    t?.dispose();
  });

  it('answers Check on a Unix domain socket', async () => {
    const socket = join(t.dir, 'authz.sock');
    const s = await startInProcess(t, { listen: { grpc: `unix:${socket}` } });
    running.push(s);
    assert.equal(s.grpcAddress, `unix:${socket}`);
    const client = makeCheckClient(s.grpcAddress);
    try {
      const r = await client.check(checkBytes(signCheck(t)));
      assert.equal(r.status?.code ?? 0, 0);
    } finally {
      client.close();
    }
  });

  it('serves TLS, and with a client CA refuses clients without a certificate (mTLS)', async () => {
    const serverCert = await ca.issueSvid({ path: '/ns/trustplane/sa/authz', dnsNames: ['localhost'] });
    const clientCert = await ca.issueSvid({ path: '/ns/istio-system/sa/envoy' });
    const files = {
      ca: join(t.dir, 'ca.pem'),
      cert: join(t.dir, 'server.pem'),
      key: join(t.dir, 'server.key'),
    };
    writeFileSync(files.ca, ca.rootPem);
    writeFileSync(files.cert, serverCert.chainPem.join('\n'));
    writeFileSync(files.key, pem(serverCert.privateKey));

    const tlsOnly = await startInProcess(t, { listen: { grpc: 'localhost:0' }, tls: { cert_file: files.cert, key_file: files.key } });
    running.push(tlsOnly);
    const tlsClient = new grpc.Client(tlsOnly.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca.rootPem)));
    assert.deepEqual(await check(tlsClient, checkBytes(signCheck(t))), { code: 0 });
    tlsClient.close();
    const plain = new grpc.Client(tlsOnly.grpcAddress, grpc.credentials.createInsecure());
    await assert.rejects(check(plain, checkBytes(signCheck(t))), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    plain.close();
    // Handshakes that fail (random bytes, a ClientHello cut short, TLS without h2 in ALPN) cost the
    // connection, never the process: the next TLS check is answered.
    const [host, port] = [tlsOnly.grpcAddress.slice(0, tlsOnly.grpcAddress.lastIndexOf(':')), Number(tlsOnly.grpcAddress.split(':').pop())];
    for (const junk of [randomBytes(300), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')]) {
      await new Promise<void>((resolve) => {
        const s = netConnect(port, host, () => s.end(junk));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
      });
    }
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ host, port, ca: ca.rootPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => s.end('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    const again = new grpc.Client(tlsOnly.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca.rootPem)));
    assert.deepEqual(await check(again, checkBytes(signCheck(t))), { code: 0 });
    again.close();

    const mtls = await startInProcess(t, { listen: { grpc: 'localhost:0' }, tls: { cert_file: files.cert, key_file: files.key, client_ca_file: files.ca } });
    running.push(mtls);
    const withCert = new grpc.Client(
      mtls.grpcAddress,
      grpc.credentials.createSsl(Buffer.from(ca.rootPem), Buffer.from(pem(clientCert.privateKey)), Buffer.from(clientCert.chainPem.join('\n'))),
    );
    assert.deepEqual(await check(withCert, checkBytes(signCheck(t))), { code: 0 });
    withCert.close();
    const noCert = new grpc.Client(mtls.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca.rootPem)));
    await assert.rejects(check(noCert, checkBytes(signCheck(t))), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    noCert.close();
  });
});
