/**
 * Writes are authorised on what they do, not only on where they go: policy sees the resource as it
 * will be after the write (a create or update body, the result of applying a JSON Patch) and the
 * version stored now (so a patient token cannot move someone else's Observation into its own
 * compartment, nor its own out of it). The write is then pinned with `If-Match` to the stored
 * version that was judged, so the upstream refuses it if that version changed in between.
 */
import { applyPatch, type Operation } from 'rfc6902';
import { GatewayError } from '../errors.js';
import type { RequestBody } from '../fhir/body.js';
import type { FhirRequest } from '../fhir/request.js';
import type { FhirResourceJson } from '../policy/contract.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';

export interface WritePlan {
  /** The resource as it will be after the write. */
  readonly resource: FhirResourceJson | null;
  /** The version stored now (null when there is none, e.g. an update that creates). */
  readonly current: FhirResourceJson | null;
  /** The ETag of `current`, sent upstream as If-Match. */
  readonly ifMatch: string | null;
  /** The body to forward (for a JSON Patch: the client's patch, unchanged). */
  readonly body: RequestBody;
}

export async function planWrite(request: FhirRequest, body: RequestBody, client: UpstreamClient, requestId: string, clientIfMatch: string | undefined): Promise<WritePlan> {
  const none: WritePlan = { resource: null, current: null, ifMatch: null, body };
  switch (request.interaction) {
    case 'create':
      return { ...none, resource: body.kind === 'json' ? body.json : null };
    case 'update':
    case 'patch':
    case 'delete': {
      if (request.id === null) {
        // Conditional write: criteria are narrowed like a search; an update that creates is judged on its body.
        return { ...none, resource: body.kind === 'json' && request.interaction === 'update' ? body.json : null };
      }
      const stored = await client.read(request.type as string, request.id, requestId);
      const current = stored.found ? stored.resource : null;
      const ifMatch = stored.found ? pinnedVersion(stored.etag, current, clientIfMatch) : null;
      if (request.interaction === 'delete') return { ...none, current, ifMatch };
      if (request.interaction === 'update') return { ...none, resource: body.kind === 'json' ? body.json : null, current, ifMatch };
      if (!current) throw new GatewayError('not_found', { auditReasons: ['patch.no-current-version'] });
      return { ...none, resource: patched(current, body), current, ifMatch };
    }
    default:
      return none;
  }
}

/** The result of applying a JSON Patch to the stored version; FHIRPath Patch is refused. */
function patched(current: FhirResourceJson, body: RequestBody): FhirResourceJson {
  if (body.kind !== 'json-patch') {
    throw new GatewayError('unsupported_media_type', { reasons: ['patch.fhirpath-unsupported'] });
  }
  const result = structuredClone(current);
  const errors = applyPatch(result, body.json as Operation[]).filter((e) => e !== null);
  if (errors.length > 0) throw new GatewayError('invalid_body', { reasons: ['body.json-patch-failed'] });
  if (typeof result.resourceType !== 'string' || result.resourceType !== current.resourceType || result['id'] !== current['id']) {
    throw new GatewayError('invalid_body', { reasons: ['body.json-patch-identity'] });
  }
  return result;
}

/**
 * The version the write must apply to: the stored version that was judged. A client that names
 * another version with If-Match would otherwise have its write applied to a version policy never saw.
 */
function pinnedVersion(etag: string | null, current: FhirResourceJson | null, clientIfMatch: string | undefined): string | null {
  const versionId = (current?.['meta'] as { versionId?: unknown } | undefined)?.versionId;
  const pinned = etag ?? (typeof versionId === 'string' ? `W/"${versionId}"` : null);
  if (clientIfMatch !== undefined && pinned !== null && normaliseEtag(clientIfMatch) !== normaliseEtag(pinned)) {
    throw new GatewayError('precondition_failed', { reasons: ['write.version-mismatch'] });
  }
  return pinned;
}

function normaliseEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}
