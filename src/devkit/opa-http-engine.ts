/**
 * A policy engine that asks an OPA server over HTTP (OPA's Data API, `POST /v1/data/<entrypoint>`)
 * for each decision: the common sidecar architecture, built behind the same PolicyEvaluator
 * interface as the in-process WebAssembly engine and accepting decisions by the same rules
 * (policy/decision.ts), so the benchmark compares the two designs and nothing else.
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

export function createOpaHttpEngine(options: { readonly url: string; readonly revision: string; readonly timeoutMs?: number }): OpaHttpEngine {
  const base = new URL(options.url);
  // Keep-alive, as a sidecar client would run: the comparison is not about TCP handshakes.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const query = (entrypoint: string, input: unknown): Promise<unknown> =>
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
      req.end(body);
    });

  return {
    revision: options.revision,
    async decideRequest(input) {
      return acceptDecision(await query(ENTRYPOINTS.request, input));
    },
    async decideResources(input) {
      if (input.items.length === 0) return [];
      return acceptResourceDecisions(await query(ENTRYPOINTS.resources, input), input.items.length);
    },
    close() {
      agent.destroy();
    },
  };
}
