/**
 * Builds the gateway's HTTP application from its parts, without listening (tests and the server
 * both use it). Routes: the FHIR API under the path of publicBaseUrl, and /healthz, /readyz,
 * /metrics outside it. Everything else is a 404 OperationOutcome.
 */
import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import { asGatewayError, GatewayError } from './errors.js';
import { createCors } from './http/cors.js';
import { refusalOf } from './http/hostile.js';
import { handleFhirRequest, respondWithError, type PipelineDeps } from './pipeline.js';
import { SECURITY_HEADERS } from './proxy/headers.js';
import type { Readiness } from './readiness.js';

export interface AppParts extends PipelineDeps {
  /** True once the policy and the token keys are loaded. */
  /** What /readyz answers: ready or not, and each check (no secrets, no URLs with credentials). */
  readonly readiness: () => Readiness;
  /** `GET <base>/.well-known/smart-configuration` (public, like metadata). */
  readonly smartConfiguration?: () => Promise<Record<string, unknown>>;
  /** `POST /admin/revocations`; absent when no admin credential is configured (then 404). */
  readonly revocationAdmin?: (req: express.Request) => Promise<{ status: number; body: unknown }>;
}

export function createApp(parts: AppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  app.set('trust proxy', false);

  const basePath = new URL(parts.config.publicBaseUrl).pathname.replace(/\/+$/, '');
  const cors = createCors(parts.config.cors);

  app.use((req, res, next) => {
    // Every answer, FHIR or not, success or error: never cached, never sniffed.
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const refused = refusalOf(req);
    if (refused) {
      // Nothing more on a connection that sent this can be trusted.
      res.setHeader('connection', 'close');
      return respondWithError(res, refused, randomUUID(), parts.config.publicBaseUrl);
    }
    // Exact, raw matching on the request target: no decoding, no normalisation.
    const raw = req.url;
    if (!raw.startsWith('/')) {
      // Absolute-form (`GET http://other-host/...`) or `*` targets: the gateway only ever serves its own base.
      respondWithError(res, new GatewayError('path_not_canonical', { reasons: ['path.form'] }), randomUUID(), parts.config.publicBaseUrl);
      return;
    }
    const path = raw.split('?')[0];
    // Browser SMART apps: the FHIR API (metadata and .well-known/smart-configuration included) only.
    if (path === basePath || path?.startsWith(`${basePath}/`)) {
      const answer = cors(req.method, req.headers);
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      if (answer.kind === 'preflight') {
        res.status(204).end();
        return;
      }
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.status(200).type('application/json').send('{"status":"ok"}');
      return;
    }
    if (req.method === 'GET' && path === '/readyz') {
      const { ready, notReady, checks } = parts.readiness();
      res.status(ready ? 200 : 503).set('cache-control', 'no-store').type('application/json').send(JSON.stringify({ status: ready ? 'ready' : 'not-ready', notReady, checks }));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      parts.metrics.registry
        .metrics()
        .then((text) => res.status(200).type(parts.metrics.registry.contentType).send(text))
        .catch(next);
      return;
    }
    if (path === `${basePath}/.well-known/smart-configuration` && parts.smartConfiguration) {
      if (req.method !== 'GET') return respondWithError(res, new GatewayError('method_not_allowed'), randomUUID(), parts.config.publicBaseUrl);
      parts
        .smartConfiguration()
        .then((doc) => res.status(200).set({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).type('application/json').send(JSON.stringify(doc)))
        .catch((err: unknown) => respondWithError(res, asGatewayError(err), randomUUID(), parts.config.publicBaseUrl));
      return;
    }
    if (path === '/admin/revocations' && parts.revocationAdmin) {
      parts
        .revocationAdmin(req)
        .then(({ status, body }) => res.status(status).set({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).type('application/json').send(JSON.stringify(body)))
        .catch((err: unknown) => respondWithError(res, asGatewayError(err), randomUUID(), parts.config.publicBaseUrl));
      return;
    }
    if (path === basePath || path?.startsWith(`${basePath}/`)) {
      handleFhirRequest(parts, req, res).catch(next);
      return;
    }
    respondWithError(res, new GatewayError('not_found'), randomUUID(), parts.config.publicBaseUrl);
  });

  // Last resort: an error that escaped the pipeline still gets an OperationOutcome, never a stack trace.
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    respondWithError(res, new GatewayError('internal'), randomUUID(), parts.config.publicBaseUrl);
  });
  return app;
}
