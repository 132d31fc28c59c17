#!/usr/bin/env node
// Writes the JSON Schemas of the policy contract and the audit record to schemas/, from the zod
// schemas the gateway itself validates with (src/policy/contract.ts, src/audit/record.ts).
// Needs the compiled sources: run `npm run build` first (npm run generate does).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = process.argv[2] ?? path.join(root, 'schemas');
const contract = await import(path.join(root, 'dist/policy/contract.js'));
const audit = await import(path.join(root, 'dist/audit/record.js'));
const decisionLog = await import(path.join(root, 'dist/audit/formats/decision-log.js'));
const auditEvent = await import(path.join(root, 'dist/audit/formats/audit-event.js'));

const ID = 'https://fhir-privacy-gateway.dev/schemas/';
const schemas = {
  'policy-input.request.schema.json': [contract.requestInputSchema, 'input', 'Input document of fhirgw/request/decision'],
  'policy-input.resource.schema.json': [contract.resourceInputSchema, 'input', 'Input document of fhirgw/resource/decision'],
  'policy-input.resources.schema.json': [contract.resourcesInputSchema, 'input', 'Input document of fhirgw/resources/decisions (batched)'],
  'policy-input.resources-views.schema.json': [
    contract.resourcesViewsInputSchema,
    'input',
    'Input document of fhirgw/resources/decisions for a bundle that declares data.fhirgw.config.resources_document "views": each distinct resource view once, items naming theirs by index',
  ],
  // What every entry point's input carries (consents: the resource side's), for the Rego library
  // packages shared by both sides: `opa check --strict --schema` types their reads of input with it.
  'policy-input.shared.schema.json': [
    z.strictObject({ principal: contract.principalSchema, request: contract.requestSchema, consents: contract.consentsSchema.optional(), env: contract.envSchema }),
    'input',
    'The part of the input every policy entry point receives (for library packages: principal, request, env; consents on the resource side)',
  ],
  'policy-decision.schema.json': [contract.decisionSchema, 'input', 'A decision returned by fhirgw/request/decision or fhirgw/resource/decision'],
  'audit-record.schema.json': [audit.auditRecordSchema, 'output', 'A sealed audit record: one per request, or a signed checkpoint (JSON lines; sink format `record`)'],
  'audit-decision-log.schema.json': [decisionLog.decisionLogEventSchema, 'output', 'The OPA decision-log view of a request record (sink format `decision-log`)'],
  'audit-event.schema.json': [
    auditEvent.auditEventSchema,
    'output',
    'The FHIR R4 AuditEvent view of a request record, IHE BALP (sink format `audit-event`; structure only: the per-profile slice rules are in docs/audit.md and src/audit/formats/audit-event.ts)',
  ],
};

mkdirSync(outDir, { recursive: true });
for (const [file, [schema, io, title]] of Object.entries(schemas)) {
  const json = { $id: ID + file, title, ...z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) };
  writeFileSync(path.join(outDir, file), `${JSON.stringify(json, null, 2)}\n`);
}
console.log(`wrote ${Object.keys(schemas).length} schemas to ${path.relative(root, outDir) || outDir}`);
