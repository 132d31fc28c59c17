/**
 * The HTTPS listener's certificate, renewed without a restart (cert-manager, an ACME client or a
 * mounted Secret rewrite the files): the files are polled, and a changed pair is installed for new
 * connections once the key is known to match the certificate. A pair that does not match, or does
 * not parse (a renewal caught half-written), is logged and ignored: the current one stays.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type https from 'node:https';
import { ConfigError } from '../config/load.js';
import type { Logger } from '../observability/logger.js';

export interface CertificatePair {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly notAfter: Date;
}

/** Reads a certificate and its key and checks they belong together; throws with the reason otherwise. */
export function readCertificatePair(certFile: string, keyFile: string): CertificatePair {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the private key does not match the certificate');
  return { cert, key, notAfter: new Date(x509.validTo) };
}

/** `readCertificatePair` at start-up, where an unusable pair is a configuration error naming the key. */
export function listenerCertificate(tls: { readonly certFile: string; readonly keyFile: string }): CertificatePair {
  try {
    return readCertificatePair(tls.certFile, tls.keyFile);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError('listen.tls', code ? `cannot read the certificate or key: ${code}` : err instanceof Error ? err.message : 'unusable certificate');
  }
}

export interface CertificateWatch {
  stop(): void;
}

export function watchCertificate(
  server: https.Server,
  files: { readonly certFile: string; readonly keyFile: string },
  options: { readonly intervalMs: number; readonly logger: Logger; readonly onInstalled?: (pair: CertificatePair) => void },
): CertificateWatch {
  const stamp = (): string => {
    try {
      return [files.certFile, files.keyFile].map((f) => `${statSync(f).mtimeMs}:${statSync(f).size}`).join('|');
    } catch {
      return 'missing';
    }
  };
  let seen = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === seen) return;
    seen = now;
    try {
      const pair = readCertificatePair(files.certFile, files.keyFile);
      server.setSecureContext({ cert: pair.cert, key: pair.key });
      options.logger.info({ notAfter: pair.notAfter.toISOString() }, 'TLS certificate reloaded');
      options.onInstalled?.(pair);
    } catch (err) {
      options.logger.error({ err: err instanceof Error ? err.message : 'error' }, 'TLS certificate not reloaded: the new files are unusable; the current certificate stays');
    }
  }, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
