/**
 * The upstream request is rebuilt from the canonical FhirRequest, never copied from the client:
 * the gateway and the FHIR server cannot read a different request than the one policy judged.
 */
import type { FhirRequest } from './request.js';
import { serializeQuery } from './search-params.js';

export interface UpstreamTarget {
  /** Path and query relative to the upstream base. */
  readonly path: string;
  /** For POST `_search`: the form body carrying the parameters. */
  readonly formBody: string | null;
}

export function upstreamPathOf(request: FhirRequest): UpstreamTarget {
  const segments = pathSegments(request);
  const path = segments.length === 0 ? '/' : `/${segments.join('/')}`;
  const query = serializeQuery(request.params);
  if (request.searchViaPost) return { path, formBody: query };
  return { path: query === '' ? path : `${path}?${query}`, formBody: null };
}

function pathSegments(r: FhirRequest): string[] {
  switch (r.interaction) {
    case 'capabilities':
      return ['metadata'];
    case 'search-system':
    case 'search-continue':
    case 'batch':
      return [];
    case 'history-system':
      return ['_history'];
    case 'search-type':
      return r.searchViaPost ? [r.type as string, '_search'] : [r.type as string];
    case 'create':
      return [r.type as string];
    case 'history-type':
      return [r.type as string, '_history'];
    case 'read':
      return [r.type as string, r.id as string];
    case 'update':
    case 'patch':
    case 'delete':
      return r.id === null ? [r.type as string] : [r.type as string, r.id];
    case 'history-instance':
      return [r.type as string, r.id as string, '_history'];
    case 'vread':
      return [r.type as string, r.id as string, '_history', r.version as string];
    case 'search-compartment': {
      const c = r.compartment as { type: string; id: string };
      return [c.type, c.id, r.type ?? '*'];
    }
    case 'operation': {
      const op = `$${r.operation as string}`;
      if (r.type === null) return [op];
      return r.id === null ? [r.type, op] : [r.type, r.id, op];
    }
  }
}
