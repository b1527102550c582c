import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OutboundConnector } from '../../src/outbound/connector';
import { OutboundError } from '../../src/outbound/outbound-error';
import { openssl, tempDir } from '../helpers/openssl';

/**
 * Security review: when Node cannot build the TLS context for a client key and certificate (a 512-bit RSA
 * key is "ee key too small" for OpenSSL's security level), tls.connect throws synchronously inside the
 * connector's `.then` after the address check. Unhandled, that rejection ended the service process
 * (Node 20 exits on an unhandled rejection) and the connection attempt never settled. POST /pkcs12/test
 * takes any key a PKCS#12 file holds, so a key with `forward` and a target could stop the CA.
 */
describe('OutboundConnector with a client key Node refuses to load', () => {
  let material: { keyPem: string; certificatePem: string };

  beforeAll(async () => {
    const dir = await tempDir('connector-weak-key-');
    await openssl(['req', '-x509', '-newkey', 'rsa:512', '-nodes', '-subj', '/CN=weak-client', '-days', '2', '-keyout', path.join(dir, 'weak.key'), '-out', path.join(dir, 'weak.pem')]);
    material = { keyPem: await readFile(path.join(dir, 'weak.key'), 'utf8'), certificatePem: await readFile(path.join(dir, 'weak.pem'), 'utf8') };
  });

  const clientTls = () => ({ identityId: 'weak', account: '-', ...material, chainPem: [], version: '1' });

  it('rejects the handshake with an OutboundError instead of an unhandled rejection and a promise that never settles', async () => {
    const connector = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'] });
    try {
      const outcome = await Promise.race([
        connector.handshake({ url: 'https://127.0.0.1:9/', clientTls: clientTls() }).then(
          () => 'resolved',
          (e: unknown) => e,
        ),
        new Promise((r) => setTimeout(() => r('never settled'), 20_000).unref()),
      ]);
      expect(outcome).toBeInstanceOf(OutboundError);
      expect((outcome as OutboundError).message).toMatch(/key too small/);
    } finally {
      await connector.close();
    }
  });

  it('rejects a request through the pool the same way', async () => {
    const connector = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], connectTimeoutMs: 2_000, responseTimeoutMs: 2_000 });
    try {
      await expect(connector.request({ url: 'https://127.0.0.1:9/', clientTls: clientTls() })).rejects.toBeInstanceOf(OutboundError);
    } finally {
      await connector.close();
    }
  }, 60_000);
});
