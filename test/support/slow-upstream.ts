/**
 * A slow network in front of a real upstream: a loopback proxy that holds each request for as long
 * as `delayFor(method, url)` says before passing it on unchanged. Shutdown tests need requests that
 * are really in flight when the gateway is told to stop.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowUpstream {
  /** The upstream base URL to configure, e.g. http://127.0.0.1:PORT/fhir */
  readonly baseUrl: string;
  /** Resolves when a request matching `match` has arrived (at once if one already did). */
  received(match: (method: string, url: string) => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startSlowUpstream(target: string, delayFor: (method: string, url: string) => number): Promise<SlowUpstream> {
  const to = new URL(target);
  const timers = new Set<NodeJS.Timeout>();
  const arrived: Array<[string, string]> = [];
  const waiting = new Set<{ match: (method: string, url: string) => boolean; resolve: () => void }>();
  const server = http.createServer((req, res) => {
    arrived.push([req.method ?? 'GET', req.url ?? '']);
    for (const w of waiting) {
      if (w.match(req.method ?? 'GET', req.url ?? '')) {
        waiting.delete(w);
        w.resolve();
      }
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(chunks));
      }, delayFor(req.method ?? 'GET', req.url ?? ''));
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}${to.pathname}`,
    received: (match) =>
      arrived.some(([m, u]) => match(m, u)) ? Promise.resolve() : new Promise<void>((resolve) => waiting.add({ match, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
