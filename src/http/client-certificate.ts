import type { Request } from 'express';
import type { TLSSocket } from 'node:tls';
import { CaError } from '../domain/errors';
import { decodePem } from '../domain/pem';

/**
 * The client certificate of a request, DER, or null. From a peer that TRUST_PROXY trusts and with
 * `header` configured (CLIENT_CERT_HEADER): the URL-encoded PEM the TLS-terminating proxy put in that
 * header (nginx `$ssl_client_escaped_cert`), and nothing else. From anyone else: the certificate presented
 * in this connection's own TLS handshake (HTTPS_PORT); the header is ignored.
 * Only possession of the key is established here (the handshake, or the proxy's); the chain, the time
 * and the ledger are checked by the renewal itself.
 */
export function presentedCertificate(req: Request, header: string | undefined): Buffer | null {
  // Over this service's own TLS the handshake is the only source: a proxy terminates TLS, it does not tunnel it.
  if (header && !(req.socket as Partial<TLSSocket>).encrypted && fromTrustedProxy(req)) return fromHeader(req.get(header));
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || typeof socket.getPeerCertificate !== 'function') return null;
  const peer = socket.getPeerCertificate(false);
  return peer && Buffer.isBuffer(peer.raw) && peer.raw.length > 0 ? peer.raw : null;
}

/** Whether the connection's peer is a proxy TRUST_PROXY trusts (Express's compiled "trust proxy fn"). */
function fromTrustedProxy(req: Request): boolean {
  const trust = req.app.get('trust proxy fn') as ((address: string, hop: number) => boolean) | undefined;
  const address = req.socket.remoteAddress;
  return typeof trust === 'function' && address !== undefined && trust(address, 0);
}

function fromHeader(value: string | undefined): Buffer | null {
  if (value === undefined || value.trim() === '' || value === '(null)') return null;
  let pem: string;
  try {
    pem = decodeURIComponent(value);
  } catch {
    throw new CaError('unauthorized', 'the client certificate header is not URL-encoded PEM');
  }
  const blocks = decodePem(pem);
  if (blocks.length === 0 || blocks[0].label !== 'CERTIFICATE') {
    throw new CaError('unauthorized', 'the client certificate header does not hold a PEM certificate');
  }
  return blocks[0].der;
}
