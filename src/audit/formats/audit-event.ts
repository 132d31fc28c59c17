/**
 * The FHIR R4 AuditEvent view of a request record, following IHE Basic Audit Log Patterns (BALP)
 * for RESTful interactions. Pure.
 *
 * Agents: the client application, this gateway as the server, and the user (the requestor, with
 * roles, purpose of use and the token's `jti` as policy). Their type codes depend on the
 * interaction, as in BALP's profiles (ROLES below): for a read the data flows to the client, which is
 * the Destination Role ID (DCM 110152) and the server the Source (110153); for a search, create or
 * update the request flows to the server, so the client is the Source; for a delete the client is an
 * Application (110150) and the server the custodian. The user is the information recipient (IRCP)
 * of reads and searches, the author (AUT) of writes.
 * Entities: the patient (audit-entity-type 1, object-role 1), the resource read or written (2/4),
 * the query for searches (2/24, base64 of the request line with values masked as configured), the
 * X-Request-Id, and the resources the gateway withheld or redacted (typed with the gateway's own
 * codes, so they never fill a BALP data or query slice). Every patient whose data was released
 * (with a detail per resource type: the count), withheld or changed has a gateway-typed entity too:
 * BALP's patient slice holds one patient, and a search may release many.
 *
 * A BALP profile is claimed (meta.profile) for successful read, search, create, update and delete,
 * the Patient* variant when a patient is identified. The id is derived from the delivery id, so a
 * record delivered twice is the same AuditEvent (the fhir sink PUTs it: idempotent).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RequestRecord } from '../record.js';

export const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';
export const SYSTEMS = {
  eventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  interaction: 'http://hl7.org/fhir/restful-interaction',
  dcm: 'http://dicom.nema.org/resources/ontology/DCM',
  participation: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  purpose: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  sourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  entityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  balpEntityType: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
  provenanceParticipant: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  gateway: 'https://fhir-privacy-gateway.dev/CodeSystem/audit',
} as const;

type Coding = { readonly system: string; readonly code: string; readonly display: string };
const DCM = (code: string, display: string): Coding => ({ system: SYSTEMS.dcm, code, display });
const SOURCE = DCM('110153', 'Source Role ID');
const DESTINATION = DCM('110152', 'Destination Role ID');
const RECIPIENT: Coding = { system: SYSTEMS.participation, code: 'IRCP', display: 'information recipient' };
const AUTHOR: Coding = { system: SYSTEMS.participation, code: 'AUT', display: 'author (originator)' };

/** The agent types each BALP profile family gives the client, the server and the user. */
const ROLES: Readonly<Record<BalpKind, { client: Coding; server: Coding; user: Coding }>> = {
  Read: { client: DESTINATION, server: SOURCE, user: RECIPIENT },
  Query: { client: SOURCE, server: DESTINATION, user: RECIPIENT },
  Create: { client: SOURCE, server: DESTINATION, user: AUTHOR },
  Update: { client: SOURCE, server: DESTINATION, user: AUTHOR },
  Delete: { client: DCM('110150', 'Application'), server: { system: SYSTEMS.provenanceParticipant, code: 'custodian', display: 'Custodian' }, user: AUTHOR },
};

type Action = 'C' | 'R' | 'U' | 'D' | 'E';
type BalpKind = 'Read' | 'Query' | 'Create' | 'Update' | 'Delete';

/**
 * FHIR restful-interaction code, AuditEvent action, the BALP profile family (null: BALP has none)
 * and the family whose agent roles apply.
 */
const INTERACTIONS: Readonly<Record<string, { code: string; action: Action; balp: BalpKind | null; roles: BalpKind }>> = {
  read: { code: 'read', action: 'R', balp: 'Read', roles: 'Read' },
  vread: { code: 'vread', action: 'R', balp: 'Read', roles: 'Read' },
  'history-instance': { code: 'history-instance', action: 'R', balp: null, roles: 'Read' },
  'history-type': { code: 'history-type', action: 'R', balp: null, roles: 'Read' },
  'history-system': { code: 'history-system', action: 'R', balp: null, roles: 'Read' },
  'search-type': { code: 'search-type', action: 'E', balp: 'Query', roles: 'Query' },
  'search-system': { code: 'search-system', action: 'E', balp: 'Query', roles: 'Query' },
  'search-compartment': { code: 'search-type', action: 'E', balp: 'Query', roles: 'Query' },
  create: { code: 'create', action: 'C', balp: 'Create', roles: 'Create' },
  update: { code: 'update', action: 'U', balp: 'Update', roles: 'Update' },
  patch: { code: 'patch', action: 'U', balp: 'Update', roles: 'Update' },
  delete: { code: 'delete', action: 'D', balp: 'Delete', roles: 'Delete' },
  capabilities: { code: 'capabilities', action: 'R', balp: null, roles: 'Read' },
  batch: { code: 'batch', action: 'E', balp: null, roles: 'Query' },
  operation: { code: 'operation', action: 'E', balp: null, roles: 'Query' },
};

const codingSchema = z.strictObject({ system: z.string(), code: z.string(), display: z.string().optional() });
const codingOf = (system: string, code?: string) => z.strictObject({ system: z.literal(system), code: code === undefined ? z.string() : z.literal(code), display: z.string().optional() });
const reference = z.strictObject({ reference: z.string().optional(), identifier: z.strictObject({ system: z.string().optional(), value: z.string() }).optional(), display: z.string().optional() });

const agentSchema = z.strictObject({
  type: z.strictObject({ coding: z.array(codingSchema).min(1) }),
  who: reference,
  requestor: z.boolean(),
  role: z.array(z.strictObject({ text: z.string() })).optional(),
  network: z.strictObject({ address: z.string(), type: z.enum(['1', '2', '3', '4', '5']) }).optional(),
  policy: z.array(z.string()).optional(),
  purposeOfUse: z.array(z.strictObject({ coding: z.array(codingOf(SYSTEMS.purpose)).length(1) })).optional(),
});

const entitySchema = z.strictObject({
  what: reference.optional(),
  type: codingSchema.optional(),
  role: codingSchema.optional(),
  description: z.string().optional(),
  query: z.base64().optional(),
  detail: z.array(z.strictObject({ type: z.string(), valueString: z.string() })).optional(),
});

/**
 * The AuditEvent as this gateway writes it, with the BALP constraints it claims: the fixed type,
 * codes and the agent and entity slices each profile requires (checked by the refinement).
 */
export const auditEventSchema = z
  .strictObject({
    resourceType: z.literal('AuditEvent'),
    id: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/),
    meta: z.strictObject({ profile: z.array(z.string().startsWith(BALP)).length(1) }).optional(),
    type: codingOf(SYSTEMS.eventType, 'rest'),
    subtype: z.array(codingOf(SYSTEMS.interaction)).length(1),
    action: z.enum(['C', 'R', 'U', 'D', 'E']),
    recorded: z.iso.datetime(),
    outcome: z.enum(['0', '4', '8', '12']),
    outcomeDesc: z.string().optional(),
    agent: z.array(agentSchema).min(1),
    source: z.strictObject({
      site: z.string(),
      observer: z.strictObject({ display: z.string() }),
      type: z.array(codingOf(SYSTEMS.sourceType, '4')).length(1),
    }),
    entity: z.array(entitySchema).min(1),
  })
  .superRefine((event, ctx) => {
    const problem = (message: string) => ctx.addIssue({ code: 'custom', message });
    const profile = event.meta?.profile[0]?.slice(BALP.length);
    if (profile === undefined) return;
    // The slices of the BALP profile claimed (ITI.BasicAudit FSH: Read, Query, Create, Update, Delete and their Patient* children).
    const patientProfile = profile.startsWith('Patient');
    const kind = (patientProfile ? profile.slice('Patient'.length) : profile) as BalpKind;
    const roles = ROLES[kind];
    if (!roles) return problem(`unknown BALP profile ${profile}`);
    const is = (c: { system: string; code: string }) => (x: { system: string; code: string }) => x.system === c.system && x.code === c.code;
    const agentsOf = (c: Coding) => event.agent.filter((a) => a.type.coding.some(is(c)));
    const [client, server, user] = [agentsOf(roles.client), agentsOf(roles.server), agentsOf(roles.user)];
    if (client.length !== 1 || !client[0]?.network || client[0].requestor !== false) problem(`${profile}: exactly one client agent (${roles.client.code}) with its network address`);
    if (server.length !== 1 || !server[0]?.network) problem(`${profile}: exactly one server agent (${roles.server.code}) with its network address`);
    if (user.length > 1 || (user[0] && (user[0].requestor !== true || user[0].network))) problem(`${profile}: at most one user agent (${roles.user.code}), the requestor, without a network`);
    if (kind === 'Delete' && user[0]?.policy) problem(`${profile}: the user agent carries no policy`);
    if (event.outcome !== '0') problem(`${profile}: BALP profiles describe successful interactions`);
    const expected = { Read: ['R', 'read|vread'], Query: ['E', 'search-type|search-system'], Create: ['C', 'create'], Update: ['U', 'update|patch'], Delete: ['D', 'delete'] }[kind];
    if (event.action !== expected[0] || !(expected[1] as string).split('|').includes(event.subtype[0]?.code ?? '')) problem(`${profile}: action and subtype must be ${expected.join(' ')}`);

    // Entity slices are told apart by their type only.
    const ofType = (system: string, code: string) => event.entity.filter((e) => e.type?.system === system && e.type.code === code);
    const patients = ofType(SYSTEMS.entityType, '1');
    if (patientProfile && (patients.length !== 1 || patients[0]?.role?.code !== '1' || !patients[0].what?.reference?.startsWith('Patient/'))) problem(`${profile}: exactly one patient entity (type 1, role 1) referencing a Patient`);
    if (!patientProfile && patients.length > 0) problem(`${profile}: a patient entity needs the Patient* profile`);
    const objects = ofType(SYSTEMS.entityType, '2');
    if (kind === 'Query') {
      const q = objects[0];
      if (objects.length !== 1 || q?.role?.code !== '24' || q.query === undefined || q.what) problem(`${profile}: exactly one query entity (type 2, role 24) with the query and no what`);
    } else if (objects.length !== 1 || !['3', '4', '20'].includes(objects[0]?.role?.code ?? '') || !objects[0]?.what) {
      problem(`${profile}: exactly one data entity (type 2, a RESTful object role) naming the resource`);
    }
    for (const t of ofType(SYSTEMS.balpEntityType, 'XrequestId')) if (!t.what?.identifier?.value) problem(`${profile}: the X-Request-Id entity needs its value`);
  });

export type AuditEvent = z.output<typeof auditEventSchema>;

export interface AuditEventContext {
  /** The gateway's public FHIR base (the server agent's network address and the source site). */
  readonly publicBaseUrl: string;
}

/** A FHIR id derived from the delivery id: the same record always becomes the same AuditEvent. */
export function auditEventIdOf(deliveryId: string): string {
  const h = createHash('sha256').update(deliveryId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** `patient`: the patient of BALP's patient slice, when the caller knows it better (one patient's access history). */
export function toAuditEvent(record: RequestRecord, context: AuditEventContext, patient: string | null = patientOf(record)): AuditEvent {
  const { request, principal, outcome } = record;
  const interaction = request ? INTERACTIONS[request.interaction] : undefined;
  const outcomeCode = outcome.decision === 'allow' ? '0' : outcome.decision === 'deny' ? '4' : '8';
  // BALP needs the client's network address: without it (audit.clientAddress: omit) no profile is claimed.
  const balp = outcomeCode === '0' && interaction?.balp && record.client.address ? `${BALP}${patient ? 'Patient' : ''}${interaction.balp}` : null;

  const roles = ROLES[interaction?.roles ?? 'Query'];
  const agents: AuditEvent['agent'] = [
    {
      type: { coding: [roles.client] },
      who: principal?.client_id ? { identifier: { system: principal.iss, value: principal.client_id } } : { display: 'unidentified client' },
      requestor: false,
      ...(record.client.address ? { network: { address: record.client.address, type: '2' as const } } : {}),
    },
    { type: { coding: [roles.server] }, who: { display: 'fhir-privacy-gateway' }, requestor: false, network: { address: context.publicBaseUrl, type: '5' } },
  ];
  if (principal) {
    agents.push({
      type: { coding: [roles.user] },
      who: principal.fhir_user ? { reference: principal.fhir_user } : { identifier: { system: principal.iss, value: principal.sub ?? 'unknown' } },
      requestor: true,
      ...(principal.roles.length > 0 ? { role: principal.roles.map((text) => ({ text })) } : {}),
      // BALP's Delete profiles exclude the user's policy; the record keeps the jti in any case.
      ...(principal.jti && interaction?.roles !== 'Delete' ? { policy: [`urn:ietf:params:oauth:jti:${principal.jti}`] } : {}),
      ...(principal.purpose_of_use.length > 0 ? { purposeOfUse: principal.purpose_of_use.map((code) => ({ coding: [{ system: SYSTEMS.purpose, code }] })) } : {}),
    });
  }

  const entities: AuditEvent['entity'] = [];
  if (patient) entities.push({ what: { reference: patient }, type: { system: SYSTEMS.entityType, code: '1', display: 'Person' }, role: { system: SYSTEMS.objectRole, code: '1', display: 'Patient' } });
  if (request && interaction?.balp === 'Query') {
    entities.push({ type: { system: SYSTEMS.entityType, code: '2', display: 'System Object' }, role: { system: SYSTEMS.objectRole, code: '24', display: 'Query' }, query: Buffer.from(queryLineOf(request), 'utf8').toString('base64') });
  } else if (request?.type) {
    const ref = request.id ? `${request.type}/${request.id}${request.version ? `/_history/${request.version}` : ''}` : request.type;
    entities.push({ what: request.id ? { reference: ref } : { display: ref }, type: { system: SYSTEMS.entityType, code: '2', display: 'System Object' }, role: { system: SYSTEMS.objectRole, code: '4', display: 'Domain Resource' } });
  }
  for (const [refs, disposition] of [[record.entries?.withheldRefs ?? [], 'withheld'], [record.entries?.redactedRefs ?? [], 'redacted']] as const) {
    for (const ref of refs) entities.push({ what: { reference: ref }, type: { system: SYSTEMS.gateway, code: disposition }, role: { system: SYSTEMS.objectRole, code: '4' } });
  }
  entities.push(...patientEntities(record));
  entities.push({ what: { identifier: { value: record.requestId } }, type: { system: SYSTEMS.balpEntityType, code: 'XrequestId' } });

  return {
    resourceType: 'AuditEvent',
    id: auditEventIdOf(record.deliveryId),
    ...(balp ? { meta: { profile: [balp] } } : {}),
    type: { system: SYSTEMS.eventType, code: 'rest', display: 'Restful Operation' },
    subtype: [{ system: SYSTEMS.interaction, code: interaction?.code ?? 'operation' }],
    action: interaction?.action ?? 'E',
    recorded: record.time,
    outcome: outcomeCode,
    outcomeDesc: outcomeDescOf(record),
    agent: agents,
    source: {
      site: new URL(context.publicBaseUrl).host,
      observer: { display: `fhir-privacy-gateway ${record.chain.instance}` },
      type: [{ system: SYSTEMS.sourceType, code: '4', display: 'Application Server' }],
    },
    entity: entities,
  };
}

/** One entity per patient the record lists: released (a detail per resource type), withheld, changed. */
function patientEntities(record: RequestRecord): AuditEvent['entity'] {
  const p = record.patients;
  if (!p) return [];
  const role = { system: SYSTEMS.objectRole, code: '1', display: 'Patient' };
  return [
    ...p.released.map(({ id, types }) => ({
      what: { reference: `Patient/${id}` },
      type: { system: SYSTEMS.gateway, code: 'released-patient' },
      role,
      detail: Object.entries(types).map(([type, n]) => ({ type, valueString: String(n) })),
    })),
    ...p.withheld.map((id) => ({ what: { reference: `Patient/${id}` }, type: { system: SYSTEMS.gateway, code: 'withheld-patient' }, role })),
    ...p.changed.map((id) => ({ what: { reference: `Patient/${id}` }, type: { system: SYSTEMS.gateway, code: 'changed-patient' }, role })),
  ];
}

/** The patient the interaction concerns, when the record identifies one. */
function patientOf(record: RequestRecord): string | null {
  const { request, principal } = record;
  if (request?.type === 'Patient' && request.id) return `Patient/${request.id}`;
  if (request?.compartment?.startsWith('Patient/')) return request.compartment;
  if (principal?.patient) return `Patient/${principal.patient}`;
  return null;
}

/** The request line of a search, values masked as the record holds them (`***` for a removed value). */
function queryLineOf(request: NonNullable<RequestRecord['request']>): string {
  const target = request.compartment ? `${request.compartment}/${request.type ?? '*'}` : (request.type ?? '');
  const query = request.params.map((p) => `${p.name}${p.modifier ? `:${p.modifier}` : ''}=${p.value === null ? '***' : encodeURIComponent(p.value)}`).join('&');
  return `${request.method} ${target}${query ? `?${query}` : ''}`;
}

function outcomeDescOf(record: RequestRecord): string {
  const parts = [`${record.outcome.decision} ${record.outcome.status}`];
  if (record.outcome.error) parts.push(record.outcome.error);
  if (record.outcome.reasons.length > 0) parts.push(`reasons: ${record.outcome.reasons.join(' ')}`);
  if (record.outcome.protectionChange) parts.push('protection-change: security labels or Consent changed');
  if (record.outcome.breakGlass) parts.push(`break-glass${record.outcome.breakGlassReason ? `: ${record.outcome.breakGlassReason}` : ''}`);
  if (record.entries) parts.push(`returned ${record.entries.returned}, withheld ${record.entries.withheld}, redacted ${record.entries.redacted}`);
  if (record.patients) {
    const p = record.patients;
    parts.push(`patients released ${p.releasedCount}, withheld ${p.withheldCount}, changed ${p.changedCount}${p.capped ? ' (lists capped)' : ''}`);
  }
  return parts.join('; ');
}
