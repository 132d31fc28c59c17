/**
 * forward: sends the canonical request upstream through http-proxy-middleware and hands back the
 * whole (bounded) answer for enforcement. Nothing from the upstream reaches the client from here:
 * `selfHandleResponse` keeps http-proxy from piping it, and the caller decides what is released.
 *
 * What goes upstream is the gateway's own: the path rebuilt from the classified request, an
 * allow-listed header set, and the body the gateway parsed and re-serialised. A per-request pass
 * placed before http-proxy's `stream` pass installs them, so no client header, path or body byte
 * travels upstream unexamined.
 */
import type http from 'node:http';
import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createProxyMiddleware, debugProxyErrorsPlugin, proxyEventsPlugin, type Options } from 'http-proxy-middleware';
import { GatewayError } from '../errors.js';
import type { UpstreamAccess } from './upstream-access.js';
import { isFailingStatus, type UpstreamBreaker } from './circuit-breaker.js';

export interface UpstreamCall {
  /** The method sent upstream: a batch entry, or a conditional write the gateway resolved, differs from the client's. */
  readonly method: string;
  /** Path (and query) relative to the upstream base, e.g. `/Observation?subject=Patient%2F1`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | null;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Forwarder {
  forward(req: IncomingMessage, res: ServerResponse, call: UpstreamCall): Promise<UpstreamResponse>;
  close(): void;
}

export interface ForwarderOptions {
  readonly upstreamUrl: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** TLS, connection pool and credentials for the upstream (upstream-access.ts). */
  readonly access: UpstreamAccess;
  /** Shared with the gateway's own upstream reads: one upstream, one breaker. */
  readonly breaker?: UpstreamBreaker;
}

interface Pending {
  readonly call: UpstreamCall;
  readonly resolve: (r: UpstreamResponse) => void;
  readonly reject: (e: GatewayError) => void;
  proxyReq?: http.ClientRequest;
  /** The upstream's status line arrived. */
  responded: boolean;
  settled: boolean;
}

/** Methods that may be sent again when their first attempt cannot have been processed. */
const IDEMPOTENT = new Set(['GET', 'HEAD']);

export function createForwarder(options: ForwarderOptions): Forwarder {
  const { access } = options;
  const agent = access.agent;
  const pending = new WeakMap<IncomingMessage, Pending>();
  /** Failures of a first attempt that may be retried once (see staleConnection). */
  const retryable = new WeakSet<GatewayError>();

  const settle = (p: Pending, outcome: { ok: UpstreamResponse } | { err: GatewayError }): void => {
    if (p.settled) return;
    p.settled = true;
    if ('ok' in outcome) p.resolve(outcome.ok);
    else {
      p.proxyReq?.destroy();
      p.reject(outcome.err);
    }
  };

  const proxyOptions: Options<IncomingMessage, ServerResponse> = {
    target: options.upstreamUrl,
    changeOrigin: true,
    xfwd: false,
    followRedirects: false,
    selfHandleResponse: true,
    // The default logger plugin would log full URLs (query strings carry PHI) and the default error
    // plugin would answer the client itself; keep only event wiring and crash protection.
    ejectPlugins: true,
    agent,
    plugins: [
      debugProxyErrorsPlugin,
      proxyEventsPlugin,
      (proxyServer) => {
        // http-proxy's documented `before(type, pass, fn)` hook; @types/http-proxy does not declare it.
        const server = proxyServer as unknown as { before(type: 'web', pass: 'stream', fn: (...args: never[]) => void): void };
        server.before('web', 'stream', ((req: IncomingMessage, _res: ServerResponse, opts: { buffer?: Readable }) => {
          const p = pending.get(req);
          if (!p) throw new Error('forward: no pending upstream call for this request');
          req.method = p.call.method;
          req.url = p.call.path;
          req.headers = { ...p.call.headers };
          opts.buffer = Readable.from(p.call.body ? [p.call.body] : []);
        }) as never);
      },
    ],
    on: {
      proxyReq: (proxyReq, req) => {
        const p = pending.get(req);
        if (!p) return;
        p.proxyReq = proxyReq;
        if (p.settled) proxyReq.destroy();
      },
      proxyRes: (proxyRes, req) => {
        const p = pending.get(req);
        if (!p) {
          proxyRes.destroy();
          return;
        }
        p.responded = true;
        // Settled before the response is destroyed: destroying it reports an abort, which must not
        // turn "too large" into "unreachable" (and feed the circuit breaker).
        const tooLarge = (): void => {
          settle(p, { err: new GatewayError('upstream_too_large', { reasons: ['upstream.too-large'] }) });
          proxyRes.destroy();
        };
        if (Number(proxyRes.headers['content-length'] ?? 0) > options.maxResponseBytes) {
          tooLarge();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        proxyRes.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxResponseBytes) {
            tooLarge();
            return;
          }
          chunks.push(chunk);
        });
        proxyRes.on('end', () => settle(p, { ok: { status: proxyRes.statusCode ?? 502, headers: proxyRes.headers, body: Buffer.concat(chunks) } }));
        proxyRes.on('error', (err) => settle(p, { err: new GatewayError('upstream_unavailable', { reasons: ['upstream.reset'], cause: err }) }));
        proxyRes.on('aborted', () => settle(p, { err: new GatewayError('upstream_unavailable', { reasons: ['upstream.reset'] }) }));
      },
      error: (err, req) => {
        const p = pending.get(req as IncomingMessage);
        if (!p) return;
        const failure = new GatewayError('upstream_unavailable', { reasons: ['upstream.connect'], cause: err });
        if (staleConnection(p, err)) retryable.add(failure);
        settle(p, { err: failure });
      },
      // The client went away mid-request: release the upstream call at once.
      econnreset: (err, req) => {
        const p = pending.get(req as IncomingMessage);
        if (p) settle(p, { err: new GatewayError('upstream_unavailable', { reasons: ['client.gone'], cause: err }) });
      },
    },
  };
  const proxy = createProxyMiddleware(proxyOptions);
  // The retry of a read whose pooled connection was reset goes on a new connection: when the
  // upstream closes its idle connections, the other pooled ones are likely stale too.
  const freshProxy = createProxyMiddleware({ ...proxyOptions, agent: access.freshAgent });

  return {
    async forward(req, res, call) {
      // The gateway's credentials, or (only where configured) the client's own Authorization header.
      const client = req.headers.authorization;
      const credentials = access.forwardClientToken ? (typeof client === 'string' ? { authorization: client } : {}) : await access.credentials();
      const withCredentials = { ...call, headers: { ...call.headers, ...credentials } };
      const attempt = async (): Promise<UpstreamResponse> => {
        const deadline = Date.now() + options.timeoutMs;
        try {
          return await exchange(proxy, req, res, withCredentials, options.timeoutMs);
        } catch (err) {
          if (!(err instanceof GatewayError) || !retryable.has(err)) throw err;
          // Within the same deadline, on a new connection.
          return exchange(freshProxy, req, res, withCredentials, Math.max(1, deadline - Date.now()));
        }
      };
      return options.breaker ? options.breaker.call(attempt, (r) => isFailingStatus(r.status)) : attempt();
    },
    close() {
      agent.destroy();
      access.freshAgent.destroy();
    },
  };

  /**
   * The keep-alive race: the upstream closed an idle pooled connection just as the agent reused it.
   * A read that got no answer on such a connection was not processed, and is sent again once.
   */
  function staleConnection(p: Pending, err: Error): boolean {
    const code = (err as NodeJS.ErrnoException).code;
    return p.proxyReq?.reusedSocket === true && !p.responded && IDEMPOTENT.has(p.proxyReq.method) && (code === 'ECONNRESET' || code === 'EPIPE');
  }

  function exchange(via: typeof proxy, req: IncomingMessage, res: ServerResponse, call: UpstreamCall, timeoutMs: number): Promise<UpstreamResponse> {
    return new Promise<UpstreamResponse>((resolve, reject) => {
      // One deadline for the whole exchange (connect, headers and body), not an idle timeout:
      // an upstream that drips bytes must not hold a client past upstream.timeoutMs.
      const timer = setTimeout(() => settle(p, { err: new GatewayError('upstream_timeout', { reasons: ['upstream.timeout'] }) }), timeoutMs);
      const listeners = scopedListeners(req, res);
      const p: Pending = {
        call,
        responded: false,
        settled: false,
        resolve: (r) => {
          clearTimeout(timer);
          listeners.release();
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          listeners.release();
          reject(e);
        },
      };
      pending.set(req, p);
      const failed = (err?: unknown): void => settle(p, { err: new GatewayError('upstream_unavailable', { reasons: ['upstream.connect'], cause: err }) });
      via(req, res, failed).catch(failed);
    });
  }
}

/** The events http-proxy (and http-proxy-middleware's error plugin) listen to on the client's request and response, per exchange. */
const EXCHANGE_EVENTS: ReadonlyArray<readonly ['req' | 'res', string]> = [
  ['req', 'aborted'],
  ['req', 'error'],
  ['res', 'close'],
  ['res', 'error'],
];

/**
 * http-proxy adds listeners to the client's request and response for every exchange and never
 * removes them. A batch or a gateway-paged search makes many exchanges on one client request, so
 * they piled up (20 entries: a MaxListenersExceededWarning per event, and every finished exchange's
 * closures held until the client's request ended). Those added during an exchange are removed when
 * it settles; the pipeline's own were added before it began and stay.
 */
function scopedListeners(req: IncomingMessage, res: ServerResponse): { release(): void } {
  const emitters = { req, res };
  const before = EXCHANGE_EVENTS.map(([on, event]) => new Set(emitters[on].listeners(event)));
  return {
    release() {
      EXCHANGE_EVENTS.forEach(([on, event], i) => {
        for (const listener of emitters[on].listeners(event)) {
          if (!before[i]?.has(listener)) emitters[on].removeListener(event, listener as (...args: unknown[]) => void);
        }
      });
    },
  };
}
