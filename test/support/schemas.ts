/**
 * Validates records against the committed JSON Schemas in schemas/ (what consumers get), with ajv
 * (draft 2020-12), so a test fails if the records and the published contract ever part ways.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { AuditRecord, RequestRecord } from '../../src/audit/record.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
// ajv-formats is CommonJS; under native ESM its default export is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (a: Ajv2020) => void;
addFormats(ajv);
// zod writes `format: base64` (with contentEncoding) for base64 strings; ajv-formats has no such format.
ajv.addFormat('base64', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);

const validators = new Map<string, ReturnType<Ajv2020['compile']>>();

export function assertValid(schemaFile: string, value: unknown): void {
  let validate = validators.get(schemaFile);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(`schemas/${schemaFile}`, 'utf8')) as object);
    validators.set(schemaFile, validate);
  }
  if (!validate(value)) throw new Error(`not valid against schemas/${schemaFile}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`);
}

/** Parses JSON lines of sealed records, validating each against schemas/audit-record.schema.json. */
export function parseRecords(text: string): AuditRecord[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const value = JSON.parse(l) as AuditRecord;
      assertValid('audit-record.schema.json', value);
      return value;
    });
}

export const requestsOnly = (records: readonly AuditRecord[]): RequestRecord[] => records.filter((r): r is RequestRecord => r.kind === 'request');
