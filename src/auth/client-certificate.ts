/**
 * The TLS client certificate of a request, when TLS terminates at the gateway (listen.tls) and the
 * client presented one: its DER bytes, for the RFC 8705 `cnf.x5t#S256` comparison. The handshake
 * already proved the client holds the certificate's private key; whether the certificate chains to
 * a CA does not matter for binding (RFC 8705 2.2 allows self-signed ones).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export function clientCertificateOf(socket: Socket): Buffer | null {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return null;
  const cert = tls.getPeerCertificate(false);
  return cert && Buffer.isBuffer(cert.raw) && cert.raw.length > 0 ? cert.raw : null;
}
