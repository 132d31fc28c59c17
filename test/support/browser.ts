/**
 * A real browser for tests: Debian's Chromium driven by playwright-core (no downloaded browser),
 * and pages served from origins of their own on loopback, with the fhirclient browser build.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface PageServer {
  readonly origin: string;
  close(): Promise<void>;
}

const FHIR_CLIENT_JS = path.resolve('node_modules/fhirclient/build/fhir-client.js');

/** Serves `pages` (path -> HTML) and `/fhir-client.js` on its own loopback port: an origin of its own. */
export async function startPageServer(pages: Readonly<Record<string, string>>, options: { host?: string; port?: number } = {}): Promise<PageServer> {
  const script = readFileSync(FHIR_CLIENT_JS);
  const server = http.createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0] as string;
    if (route === '/fhir-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(script);
      return;
    }
    const page = pages[route];
    if (page === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((r) => server.listen(options.port ?? 0, host, r));
  return {
    origin: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
