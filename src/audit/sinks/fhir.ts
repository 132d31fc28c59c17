/**
 * FHIR AuditEvents to a FHIR server (an audit repository, IHE ATNA/BALP style): each batch is one
 * `batch` Bundle of `PUT AuditEvent/<id>` entries, the id derived from the record's delivery id,
 * so a replayed record updates the same AuditEvent instead of creating a second one. The batch is
 * acknowledged only when every entry answered 2xx.
 */
import type { AuditRecord } from '../record.js';
import type { Encoder } from '../formats/index.js';
import { postOrThrow } from './http.js';
import type { AuditSink } from './sink.js';

export interface FhirSinkOptions {
  readonly name: string;
  /** The FHIR base URL of the audit repository. */
  readonly url: string;
  readonly authorization: string | null;
  readonly timeoutMs: number;
  /** The audit-event encoder. */
  readonly encode: Encoder;
}

export function createFhirSink(options: FhirSinkOptions): AuditSink {
  return {
    name: options.name,
    async deliver(records: readonly AuditRecord[]) {
      const events = records.map(options.encode).filter((e): e is { id: string } => e !== null && typeof (e as { id?: unknown }).id === 'string');
      if (events.length === 0) return;
      const bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: events.map((resource) => ({ resource, request: { method: 'PUT', url: `AuditEvent/${resource.id}` } })),
      };
      const headers = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...(options.authorization ? { authorization: options.authorization } : {}) };
      const answer = (await postOrThrow(options.url, JSON.stringify(bundle), headers, options.timeoutMs)) as { resourceType?: unknown; entry?: Array<{ response?: { status?: unknown } }> } | null;
      const statuses = answer?.resourceType === 'Bundle' ? (answer.entry ?? []).map((e) => String(e.response?.status ?? '')) : [];
      if (statuses.length !== events.length || !statuses.every((s) => /^2\d\d/.test(s))) throw new Error('FHIR batch not fully accepted');
    },
    close: async () => {},
  };
}
