/**
 * Content negotiation. The gateway speaks FHIR JSON only (XML would have to be checked by a second
 * parser that might read it differently), so a client that accepts no JSON gets 406. The one
 * exception is a Binary read that asks for the content itself (`Accept: application/pdf`): its
 * decoded `data` is released, after policy has decided on the Binary's metadata.
 */
import { GatewayError } from '../errors.js';
import type { FhirRequest } from './request.js';

export type Representation = 'json' | 'binary-content';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

export function negotiate(accept: string | undefined, request: FhirRequest): Representation {
  if (accept === undefined || accept.trim() === '') return 'json';
  const ranges = accept
    .split(',')
    .map((part) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q === undefined ? 1 : Number(q.slice(2)) };
    })
    .filter((r) => r.type !== '' && r.q > 0)
    .sort((a, b) => b.q - a.q);
  const jsonOk = ranges.some((r) => JSON_TYPES.has(r.type) || r.type === '*/*' || r.type === 'application/*');
  const isBinaryRead = request.type === 'Binary' && (request.interaction === 'read' || request.interaction === 'vread');
  if (isBinaryRead) {
    const best = ranges[0]?.type;
    if (best !== undefined && !JSON_TYPES.has(best) && best !== '*/*' && best !== 'application/*') return 'binary-content';
  }
  if (jsonOk) return 'json';
  if (isBinaryRead && ranges.length > 0) return 'binary-content';
  throw new GatewayError('not_acceptable');
}
