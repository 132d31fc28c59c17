/**
 * The upstream the enforcement tests, the leak oracle and the noninterference tests run against:
 * Medplum's FHIR engine (FhirRouter over its MemoryRepository) behind src/devkit/fhir-server.ts.
 *
 * Where the engine has its own implementation, the devkit uses it: reads, writes, history, every
 * search parameter's matching, `_count`/`_offset` slicing and `total`, the parsing of `_include`
 * and `_revinclude` (parseSearchRequest), FHIRPath evaluation of SearchParameter expressions.
 * Where it has none, the devkit simulates the server, and those answers are the project's own code,
 * not Medplum's (docs/threat-model.md, "What the upstream in the tests is"):
 *   - running `_include`/`_revinclude` (the engine parses them and ignores them),
 *   - compartment search (`Patient/p/Observation`: no route),
 *   - `Patient/p/$everything` and Bulk Data `$export` (no operation),
 *   - paging links (the engine's searchsets carry none) and HAPI-style `_getpages` paging.
 * The first part proves each "none" against the engine itself (when an upgrade implements one,
 * its test fails: switch the devkit to the engine's). The second holds the simulation to the FHIR
 * R4 specification: Bundle.link relations (bundle.html#link, http.html#paging), search.mode and
 * totals with includes (search.html#include), the Patient CompartmentDefinition, $everything
 * (patient-operation-everything.html), and HAPI FHIR's `_getpages` link shape.
 */
import { getStatus, isOk } from '@medplum/core';
import { FhirRouter, MemoryRepository, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { indexFhirDefinitions, startFhirServer, type RunningFhirServer } from '../../src/devkit/fhir-server.js';
import { seedSyntheticData } from '../../src/devkit/synthetic-data.js';
import { PATIENT_COMPARTMENT } from '../../src/fhir/generated/r4.js';

/** Bundle.link relations the specification defines for searchsets (IANA link relations used by FHIR paging). */
const PAGING_RELATIONS = new Set(['self', 'first', 'previous', 'next', 'last']);

describe("what Medplum's engine does not implement (the devkit simulates it)", () => {
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const ask = async (url: string, method: HttpMethod = 'GET') => {
    const [outcome, resource] = await router.handleRequest({ method, url, pathname: '', params: {}, query: {}, body: undefined }, repo);
    return { ok: isOk(outcome), status: getStatus(outcome), resource };
  };
  beforeAll(async () => {
    indexFhirDefinitions();
    await seedSyntheticData(repo);
  });

  test('_include and _revinclude are parsed but not run: the searchset holds the matches only', async () => {
    const included = await ask('/Observation?subject=Patient/pat-alba&_include=Observation:subject');
    expect(included.ok).toBe(true);
    const entries = (included.resource as Bundle).entry ?? [];
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.map((e) => e.resource?.resourceType)).not.toContain('Patient');
    const revincluded = await ask('/Patient?_id=pat-alba&_revinclude=Observation:subject');
    expect(((revincluded.resource as Bundle).entry ?? []).map((e) => e.resource?.resourceType)).toEqual(['Patient']);
  });

  test('compartment search has no route', async () => {
    expect((await ask('/Patient/pat-alba/Observation')).ok).toBe(false);
  });

  test('$everything and $export are not operations of the engine', async () => {
    expect((await ask('/Patient/pat-alba/$everything')).ok).toBe(false);
    expect((await ask('/Patient/$export')).ok).toBe(false);
  });

  test('its searchsets carry no paging links, though it slices by _count and _offset and reports the total', async () => {
    const page = (await ask('/Observation?_count=1&_offset=1')).resource as Bundle;
    expect(page.link).toBeUndefined();
    expect(page.entry).toHaveLength(1);
    expect(page.total).toBeGreaterThan(2);
  });
});

describe('the simulation, held to the FHIR specification', () => {
  let offset: RunningFhirServer;
  let token: RunningFhirServer;
  beforeAll(async () => {
    offset = await startFhirServer();
    token = await startFhirServer({ paging: 'token' });
    await seedSyntheticData(offset.repo);
    await seedSyntheticData(token.repo);
  });
  afterAll(async () => {
    await offset.close();
    await token.close();
  });

  const get = async (url: string): Promise<Bundle> => {
    const res = await fetch(url, { headers: { accept: 'application/fhir+json' } });
    expect(res.status).toBe(200);
    return (await res.json()) as Bundle;
  };
  const ids = (b: Bundle, mode?: 'match' | 'include') => (b.entry ?? []).filter((e) => mode === undefined || e.search?.mode === mode).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

  /** Follows `next` from the first page; every page is checked on the way. */
  async function allPages(server: RunningFhirServer, first: string): Promise<{ pages: Bundle[]; matches: string[] }> {
    const pages: Bundle[] = [];
    let url: string | undefined = first;
    while (url !== undefined && pages.length < 50) {
      const page = await get(url);
      for (const link of page.link ?? []) expect([link.relation, PAGING_RELATIONS.has(link.relation ?? '')]).toEqual([link.relation, true]);
      expect(page.link?.filter((l) => l.relation === 'self')).toHaveLength(1);
      expect((page.link ?? []).filter((l) => l.relation === 'next').length).toBeLessThanOrEqual(1);
      for (const l of page.link ?? []) expect(l.url?.startsWith(server.baseUrl)).toBe(true);
      pages.push(page);
      url = page.link?.find((l) => l.relation === 'next')?.url;
    }
    return { pages, matches: pages.flatMap((p) => ids(p, 'match')) };
  }

  test.each([['offset (Medplum style)'], ['token (HAPI style)']])('paging by %s: following next lists every match once, and the last page has no next', async (mode) => {
    const server = mode.startsWith('offset') ? offset : token;
    const unpaged = await get(`${server.baseUrl}/Observation?_count=1000`);
    const { pages, matches } = await allPages(server, `${server.baseUrl}/Observation?_count=1`);
    expect(pages.length).toBe(unpaged.total);
    expect(pages.length).toBeGreaterThan(2);
    expect(new Set(matches).size).toBe(matches.length);
    expect([...matches].sort()).toEqual(ids(unpaged, 'match').sort());
    for (const p of pages) expect(p.total).toBe(unpaged.total);
    expect(pages.at(-1)!.link?.some((l) => l.relation === 'next')).toBe(false);
    // self is the request that produced the page.
    expect(pages[0]!.link?.find((l) => l.relation === 'self')?.url).toBe(`${server.baseUrl}/Observation?_count=1`);
  });

  test("the token mode's next link has HAPI FHIR's shape: [base]?_getpages=<id>&_getpagesoffset=<n>&_count=<n>&_bundletype=searchset", async () => {
    const first = await get(`${token.baseUrl}/Observation?_count=2`);
    const next = first.link?.find((l) => l.relation === 'next')?.url ?? '';
    expect(next).toMatch(new RegExp(`^${token.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?_getpages=[0-9a-f-]{36}&_getpagesoffset=2&_count=2&_bundletype=searchset$`));
    // The token alone names the search: a page asked for without the original parameters.
    expect(ids(await get(next), 'match')).toHaveLength(2);
  });

  test('_include adds the referenced resources with search.mode include, once, not counted in total', async () => {
    const b = await get(`${offset.baseUrl}/Observation?subject=Patient/pat-alba&_include=Observation:subject`);
    const matches = ids(b, 'match');
    expect(matches.length).toBeGreaterThan(0);
    expect(ids(b, 'include')).toEqual(['Patient/pat-alba']);
    expect(b.total).toBe(matches.length);
    const all = ids(b);
    expect(new Set(all).size).toBe(all.length);
  });

  test('_include with a target type follows only references to that type (Type:param:TargetType)', async () => {
    expect(ids(await get(`${offset.baseUrl}/Observation?subject=Patient/pat-alba&_include=Observation:subject:Group`), 'include')).toEqual([]);
    expect(ids(await get(`${offset.baseUrl}/Observation?subject=Patient/pat-alba&_include=Observation:subject:Patient`), 'include')).toEqual(['Patient/pat-alba']);
  });

  test('_revinclude adds the resources that reference a match, with search.mode include', async () => {
    const b = await get(`${offset.baseUrl}/Patient?_id=pat-alba&_revinclude=Observation:subject`);
    expect(ids(b, 'match')).toEqual(['Patient/pat-alba']);
    const unpaged = await get(`${offset.baseUrl}/Observation?subject=Patient/pat-alba&_count=1000`);
    expect(ids(b, 'include').sort()).toEqual(ids(unpaged, 'match').sort());
    expect(b.total).toBe(1);
  });

  test('a malformed include is a 400, as from a server, not a 500', async () => {
    expect((await fetch(`${offset.baseUrl}/Observation?_include=*`)).status).toBe(400);
  });

  test("compartment search returns the type's resources any of its Patient CompartmentDefinition parameters links to the patient", async () => {
    for (const type of ['Observation', 'Encounter', 'Group', 'Device']) {
      const expected = new Set<string>();
      for (const param of PATIENT_COMPARTMENT[type]?.params ?? []) {
        for (const id of ids(await get(`${offset.baseUrl}/${type}?${param}=Patient/pat-bruno&_count=1000`), 'match')) expected.add(id);
      }
      const b = await get(`${offset.baseUrl}/Patient/pat-bruno/${type}?_count=1000`);
      expect([type, ids(b, 'match').sort()]).toEqual([type, [...expected].sort()]);
      expect(b.total).toBe(expected.size);
    }
  });

  test("$everything returns the patient and the resources of the patient's compartment, each once, and pages like a search", async () => {
    const { pages, matches } = await allPages(offset, `${offset.baseUrl}/Patient/pat-bruno/$everything?_count=3`);
    expect(matches).toContain('Patient/pat-bruno');
    expect(matches.filter((id) => id.startsWith('Patient/'))).toEqual(['Patient/pat-bruno']);
    expect(new Set(matches).size).toBe(matches.length);
    expect(matches.length).toBe(pages[0]!.total);
    // Everything a compartment search finds for bruno is in it; nothing of another patient's own data.
    for (const type of ['Observation', 'Encounter', 'Condition', 'Device', 'RelatedPerson']) {
      for (const id of ids(await get(`${offset.baseUrl}/Patient/pat-bruno/${type}?_count=1000`), 'match')) expect(matches).toContain(id);
    }
    expect(matches.some((id) => id.includes('pat-alba') || id.includes('pat-chen'))).toBe(false);
    expect(matches.every((id) => (id.split('/')[0]! in PATIENT_COMPARTMENT))).toBe(true);
  });

  test('every resource on a page has an absolute fullUrl on the server base (bundle.html#bundle-unique)', async () => {
    const b = await get(`${offset.baseUrl}/Observation?_include=Observation:subject`);
    for (const e of b.entry ?? []) expect(e.fullUrl).toBe(`${offset.baseUrl}/${(e.resource as Resource).resourceType}/${(e.resource as Resource).id}`);
  });
});
