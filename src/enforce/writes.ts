/**
 * Writes are authorised on what they do, not only on where they go: policy sees the resource as it
 * will be after the write (a create or update body, the result of applying a JSON Patch) and the
 * version stored now (so a patient token cannot move someone else's Observation into its own
 * compartment, nor its own out of it). The write is then pinned with `If-Match` to the stored
 * version that was judged, so the upstream refuses it if that version changed in between.
 *
 * A plan is only made for a target the principal may read (src/enforce/targets.ts), and only with
 * what it may read: a target it sees redacted cannot be written at all (`write.partial-view`),
 * because a patch `test`, a version comparison or a whole-resource update would then act on, and
 * answer about, the elements it does not see.
 */
import { applyPatch, type Operation } from 'rfc6902';
import { GatewayError } from '../errors.js';
import type { RequestBody } from '../fhir/body.js';
import type { FhirRequest } from '../fhir/request.js';
import type { FhirResourceJson } from '../policy/contract.js';
import type { Target } from './targets.js';

export interface WritePlan {
  /** The resource as it will be after the write (null for a delete). */
  readonly resource: FhirResourceJson | null;
  /** The version stored now (null for a create). */
  readonly current: FhirResourceJson | null;
  /** The ETag of `current`, sent upstream as If-Match. */
  readonly ifMatch: string | null;
  /** The body to forward (for a JSON Patch: the client's patch, unchanged). */
  readonly body: RequestBody;
}

/** A create: judged on its body alone. */
export function planCreate(body: RequestBody): WritePlan {
  return { resource: body.kind === 'json' ? body.json : null, current: null, ifMatch: null, body };
}

/** An update, patch or delete of a target the principal may read. */
export function planChange(request: FhirRequest, body: RequestBody, target: Extract<Target, { kind: 'visible' }>, clientIfMatch: string | undefined): WritePlan {
  if (target.partial) throw new GatewayError('forbidden', { reasons: ['write.partial-view'] });
  const current = target.resource;
  const ifMatch = pinnedVersion(target.etag, clientIfMatch);
  switch (request.interaction) {
    case 'delete':
      return { resource: null, current, ifMatch, body };
    case 'update':
      return { resource: body.kind === 'json' ? body.json : null, current, ifMatch, body };
    default:
      return { resource: patched(current, body), current, ifMatch, body };
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
function pinnedVersion(etag: string | null, clientIfMatch: string | undefined): string | null {
  if (clientIfMatch !== undefined && etag !== null && normaliseEtag(clientIfMatch) !== normaliseEtag(etag)) {
    throw new GatewayError('precondition_failed', { reasons: ['write.version-mismatch'] });
  }
  return etag;
}

function normaliseEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}
