/**
 * A policy engine that asks an OPA server over HTTP (OPA's Data API, `POST /v1/data/<entrypoint>`)
 * for each decision: the common sidecar architecture, built behind the same PolicyEvaluator
 * interface as the in-process WebAssembly engine and accepting decisions by the same rules
 * (policy/decision.ts), so the benchmark compares the two designs and nothing else.
 *
 * Resource decisions are asked one resource per call (several calls in flight), as OPA's Data API
 * is meant to be used: OPA's interpreter evaluates the batched entrypoint in time that grows with
 * the square of the batch (`with input.resource` in a comprehension: 100 resources took 0.2 s,
 * 300 took 1.8 s here), while 100 single calls took 0.17 s one after another.
 * For the benchmark only; the gateway evaluates its policy in-process.
 */
import http from 'node:http';
import { GatewayError } from '../errors.js';
import { ENTRYPOINTS, type Decision, type RequestInput, type ResourcesInput } from '../policy/contract.js';
import { acceptDecision, acceptResourceDecisions } from '../policy/decision.js';
import type { PolicyEvaluator } from '../policy/engine.js';

export interface OpaHttpEngine extends PolicyEvaluator {
  decideRequest(input: RequestInput): Promise<Decision>;
  decideResources(input: ResourcesInput): Promise<Decision[]>;
  close(): void;
}

/** Resource decisions of one response asked at the same time. */
const CALLS_IN_FLIGHT = 8;

export function createOpaHttpEngine(options: { readonly url: string; readonly revision: string; readonly timeoutMs?: number }): OpaHttpEngine {
  const base = new URL(options.url);
  // Keep-alive, as a sidecar client would run: the comparison is not about TCP handshakes.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const query = (entrypoint: string, input: unknown, inFlight?: Set<http.ClientRequest>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const body = Buffer.from(JSON.stringify({ input }), 'utf8');
      const req = http.request(
        { host: base.hostname, port: base.port, method: 'POST', path: `/v1/data/${entrypoint}`, agent, timeout: options.timeoutMs ?? 5000, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 200) return reject(new GatewayError('policy_error', { reasons: ['policy.evaluation-failed'] }));
            try {
              // OPA answers `{}` (no `result`) when the decision is undefined.
              resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { result?: unknown }).result);
            } catch (err) {
              reject(new GatewayError('policy_error', { reasons: ['policy.evaluation-failed'], cause: err }));
            }
          });
          res.on('error', (err) => reject(new GatewayError('policy_error', { reasons: ['policy.evaluation-failed'], cause: err })));
        },
      );
      req.on('timeout', () => req.destroy(new Error('policy server timeout')));
      req.on('error', (err) => reject(new GatewayError('policy_error', { reasons: ['policy.evaluation-failed'], cause: err })));
      inFlight?.add(req);
      req.on('close', () => inFlight?.delete(req));
      req.end(body);
    });

  return {
    revision: options.revision,
    async decideRequest(input) {
      return acceptDecision(await query(ENTRYPOINTS.request, input));
    },
    async decideResources(input) {
      const { items, ...shared } = input;
      const raw: unknown[] = new Array(items.length);
      const inFlight = new Set<http.ClientRequest>();
      let next = 0;
      let failed = false;
      const worker = async (): Promise<void> => {
        while (next < items.length && !failed) {
          const i = next++;
          const item = items[i] as (typeof items)[number];
          raw[i] = await query(ENTRYPOINTS.resource, { ...shared, resource: item.resource, facts: item.facts }, inFlight);
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(CALLS_IN_FLIGHT, items.length) }, worker));
      } catch (err) {
        // One failure fails the answer: stop asking for the rest, and cancel what is in flight.
        failed = true;
        for (const req of inFlight) req.destroy();
        throw err;
      }
      // An undefined decision for one resource denies that resource, as the batch would.
      return raw.map((r) => acceptResourceDecisions(r === undefined ? undefined : [r], 1)[0] as Decision);
    },
    close() {
      agent.destroy();
    },
  };
}
