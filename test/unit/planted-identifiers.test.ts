/**
 * Planted-identifier coverage: every R4 resource type, every element populated (choice elements in
 * each of their types across instances, extensions of every value type, contained resources,
 * primitive arrays) with markers of the 18 Safe Harbor identifier classes (test/support/planted.ts).
 * After Safe Harbor no marker is left; after the limited data set only the dates, city and 5-digit
 * ZIP it keeps. Every output is checked with Medplum's validator over the R4 definitions.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { indexFhirDefinitions } from '../../src/devkit/fhir-server.js';
import { deidentify, type DeidProfile } from '../../src/enforce/deidentify.js';
import { STRUCTURES } from '../../src/fhir/element-types.js';
import { R4_RESOURCE_TYPES } from '../../src/fhir/generated/r4.js';
import { EXTENSION_VALUE_TYPES, forbiddenUnder, MARKERS, plantedInstances } from '../support/planted.js';

const ctx = { now: new Date('2026-12-01T00:00:00Z'), pseudonymKey: new Uint8Array(32).fill(5) };

beforeAll(() => indexFhirDefinitions());

/**
 * Invariants of definitional resources that read the authored text both profiles remove
 * (ElementDefinition.definition, max and path, Questionnaire answerValueSet, TestScript source ids):
 * no patient data lives there, and these resources are released de-identified only when a policy
 * applies a profile to every type. Each is listed with the reason it fails.
 */
const KNOWN_DEFINITIONAL_INVARIANTS: Readonly<Record<string, string>> = {
  'sdf-3': 'snapshot elements need definition (markdown) and max (string)',
  'sdf-10': 'a binding needs valueSet (canonical) or description (string)',
  'sdf-15a': 'reads ElementDefinition.path (string)',
  'sdf-20': 'reads ElementDefinition.path (string)',
  'que-5': 'reads Questionnaire.item.type against answerValueSet (canonical)',
  'tst-10': 'reads TestScript assert source ids (string)',
};

function issuesOf(resource: Record<string, unknown>): OperationOutcomeIssue[] {
  try {
    return validateResource(resource as unknown as Resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  } catch (err) {
    if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    throw err;
  }
}

const invariantKey = (i: OperationOutcomeIssue): string | null => (i.code === 'invariant' ? (/Constraint (\S+) not met/.exec(i.details?.text ?? '')?.[1] ?? null) : null);
const describeIssue = (i: OperationOutcomeIssue): string => `${i.code} ${i.details?.text ?? ''} at ${i.expression?.join(',') ?? ''}`;

/**
 * The errors de-identification caused: every error of the output, less the invariants the planted
 * input breaks already (it populates every element at once, so it breaks co-occurrence rules such as
 * "either path or searchParam") and the definitional invariants listed above. Structure and
 * cardinality errors are never excused.
 */
function newErrors(type: string, input: Record<string, unknown>, output: Record<string, unknown>): string[] {
  const errors = issuesOf(output);
  if (errors.length === 0) return [];
  const inherited = new Set(issuesOf(input).map(invariantKey).filter((k) => k !== null));
  return errors
    .filter((i) => {
      const key = invariantKey(i);
      if (key !== null && (inherited.has(key) || KNOWN_DEFINITIONAL_INVARIANTS[key] !== undefined)) return false;
      // An invariant whose evaluation failed on a masked value in a definitional resource.
      if (i.code === 'processing' && /Error evaluating invariant/.test(i.details?.text ?? '') && type === 'StructureDefinition') return false;
      return true;
    })
    .map(describeIssue);
}

function run(profile: DeidProfile): { leaks: string[]; invalid: string[]; ages: string[]; instances: number; text: string[] } {
  const { instances } = plantedInstances();
  const forbidden = forbiddenUnder(profile);
  const leaks: string[] = [];
  const invalid: string[] = [];
  const ages: string[] = [];
  const text: string[] = [];
  for (const { type, resource } of instances) {
    const input = structuredClone(resource);
    deidentify(resource, profile, ctx);
    const json = JSON.stringify(resource);
    text.push(json);
    for (const marker of forbidden) if (json.includes(marker)) leaks.push(`${type}: ${marker} in …${json.slice(Math.max(0, json.indexOf(marker) - 120), json.indexOf(marker) + marker.length)}`);
    // Every planted quantity is 97 years: Safe Harbor releases it as 90 or over, the limited data set as it is.
    if (profile === 'safe-harbor' && json.includes('"value":97')) ages.push(type);
    for (const e of newErrors(type, input, resource)) invalid.push(`${type}: ${e}`);
  }
  return { leaks, invalid, ages, instances: instances.length, text };
}

describe('planted identifiers over every R4 resource type', () => {
  test('the instances cover every resource type, every element of every resource and data type, every extension value type', () => {
    const { coverage } = plantedInstances();
    expect([...coverage.resourceTypes].sort()).toEqual([...R4_RESOURCE_TYPES].sort());
    expect([...coverage.extensionValueTypes].sort()).toEqual([...EXTENSION_VALUE_TYPES].sort());
    // Every element of every concrete structure; abstract bases (Element, Resource ...) are covered
    // through the structures that inherit them, Extension's through the extension value types, and
    // MoneyQuantity is not the type of any R4 element.
    const abstract = /^(Element|BackboneElement|DomainResource|Resource|Extension|MoneyQuantity)\./;
    const all = [...STRUCTURES.values()].flatMap((s) => [...s.elements.keys()].map((k) => `${s.name}.${k}`)).filter((p) => !abstract.test(p));
    expect(all.filter((p) => !coverage.elementPaths.has(p))).toEqual([]);
    expect(coverage.elementPaths.size).toBeGreaterThanOrEqual(all.length);
  });

  test('after Safe Harbor no planted identifier is left anywhere, every age is 90 or over, and the output is valid R4', () => {
    const r = run('safe-harbor');
    expect(r.leaks).toEqual([]);
    expect(r.ages).toEqual([]);
    expect(r.invalid).toEqual([]);
    // Dates are released as years, never as more.
    expect(r.text.some((t) => t.includes('"1961"'))).toBe(true);
  });

  test('after the limited data set only its dates, times, city and 5-digit ZIP are left, and the output is valid R4', () => {
    const r = run('limited-data-set');
    expect(r.leaks).toEqual([]);
    expect(r.invalid).toEqual([]);
    const all = r.text.join('\n');
    for (const kept of [MARKERS.date, MARKERS.dateTime, MARKERS.instant, MARKERS.time, MARKERS.city, MARKERS.zip5, MARKERS.restrictedZip5]) expect(all).toContain(kept.text);
  });
});
