/**
 * FHIR R4 Consent -> flat rules policy can match without recursion (Rego has none).
 *
 * A provision applies when its own criteria and those of every provision above it match; the most
 * specific (deepest) applying provision decides, and the root provision's type is the default. Each
 * provision becomes one rule carrying the list of criteria along its path from the root, so policy
 * checks "every condition matches" and picks the deepest rule. Inactive consents, consents outside
 * their period and scopes the gateway does not enforce are dropped here.
 */
import type { FhirResourceJson } from '../policy/contract.js';

export interface ConsentCriteria {
  /** Actor references (`Practitioner/9`) and role codes (`system|code`); empty = any actor. */
  readonly actors: readonly string[];
  readonly actor_roles: readonly string[];
  /** Purpose-of-use codes (v3-ActReason), `system|code` and bare `code`; empty = any purpose. */
  readonly purposes: readonly string[];
  /** Security labels, bare codes; empty = any label. */
  readonly labels: readonly string[];
  /** Resource types (`class` with the resource-types system); empty = any type. */
  readonly classes: readonly string[];
  /** Codes the data carries, `system|code`; empty = any code. */
  readonly codes: readonly string[];
  /** The data's own date must fall in this period (ISO strings, open-ended when null). */
  readonly data_period: { readonly start: string | null; readonly end: string | null } | null;
}

export interface ConsentRule {
  readonly type: 'permit' | 'deny';
  readonly depth: number;
  /** Criteria from the root provision down to this one: all must match. */
  readonly conditions: readonly ConsentCriteria[];
}

export interface FlatConsent {
  readonly id: string;
  /** Consent.scope code: `patient-privacy`, `research`, `treatment`, `adr`. */
  readonly scope: string;
  readonly date: string | null;
  /** The root provision's type (or the policyRule's: OPTIN permit, OPTOUT deny). */
  readonly base: 'permit' | 'deny';
  /** Every nested provision (depth >= 1), each with its path's criteria. */
  readonly rules: readonly ConsentRule[];
}

const SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
const POLICY_RULE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ENFORCED_SCOPES = new Set(['patient-privacy', 'research', 'treatment']);

type Json = Record<string, unknown>;

/** Consents that are in force at `now`, flattened; others are left out. */
export function flattenConsents(consents: readonly FhirResourceJson[], now: Date): FlatConsent[] {
  const out: FlatConsent[] = [];
  for (const consent of consents) {
    const flat = flattenConsent(consent, now);
    if (flat) out.push(flat);
  }
  return out;
}

export function flattenConsent(consent: FhirResourceJson, now: Date): FlatConsent | null {
  if (consent.resourceType !== 'Consent' || consent['status'] !== 'active') return null;
  const scope = codings(consent['scope']).find((c) => c.system === SCOPE_SYSTEM || c.system === undefined)?.code;
  if (scope === undefined || !ENFORCED_SCOPES.has(scope)) return null;
  const root = (consent['provision'] ?? null) as Json | null;
  if (root && !inPeriod(root['period'], now)) return null;
  const base = typeOf(root) ?? policyRuleType(consent);
  if (base === null) return null; // neither a provision nor a policy rule says what the default is
  const rules: ConsentRule[] = [];
  const visit = (provision: Json, path: ConsentCriteria[], depth: number): void => {
    for (const child of asArray(provision['provision'])) {
      if (typeof child !== 'object' || child === null) continue;
      const c = child as Json;
      const type = typeOf(c);
      if (type === null || !inPeriod(c['period'], now)) continue;
      const conditions = [...path, criteriaOf(c)];
      rules.push({ type, depth, conditions });
      visit(c, conditions, depth + 1);
    }
  };
  if (root) visit(root, [criteriaOf(root)], 1);
  return {
    id: typeof consent['id'] === 'string' ? consent['id'] : '',
    scope,
    date: typeof consent['dateTime'] === 'string' ? consent['dateTime'] : null,
    base,
    rules,
  };
}

function criteriaOf(provision: Json): ConsentCriteria {
  const actors: string[] = [];
  const actorRoles: string[] = [];
  for (const actor of asArray(provision['actor']) as Json[]) {
    const ref = (actor?.['reference'] as Json | undefined)?.['reference'];
    if (typeof ref === 'string') actors.push(ref);
    for (const c of codings(actor?.['role'])) actorRoles.push(...tokens(c));
  }
  const dataPeriod = provision['dataPeriod'] as Json | undefined;
  return {
    actors,
    actor_roles: actorRoles,
    purposes: asArray(provision['purpose']).flatMap((c) => tokens(c as Json)),
    labels: asArray(provision['securityLabel']).flatMap((c) => (typeof (c as Json)['code'] === 'string' ? [(c as Json)['code'] as string] : [])),
    classes: asArray(provision['class']).flatMap((c) => (typeof (c as Json)['code'] === 'string' ? [(c as Json)['code'] as string] : [])),
    codes: asArray(provision['code']).flatMap((cc) => codings(cc).map((c) => `${c.system ?? ''}|${c.code ?? ''}`)),
    data_period: dataPeriod ? { start: str(dataPeriod['start']), end: str(dataPeriod['end']) } : null,
  };
}

function typeOf(provision: Json | null): 'permit' | 'deny' | null {
  const t = provision?.['type'];
  return t === 'permit' || t === 'deny' ? t : null;
}

/** Without provisions, OPTIN means permit and OPTOUT deny. */
function policyRuleType(consent: Json): 'permit' | 'deny' | null {
  const code = codings(consent['policyRule']).find((c) => c.system === POLICY_RULE_SYSTEM || c.system === undefined)?.code;
  if (code === 'OPTIN' || code === 'OPTINR') return 'permit';
  if (code === 'OPTOUT' || code === 'OPTOUTE') return 'deny';
  return null;
}

function inPeriod(period: unknown, now: Date): boolean {
  if (typeof period !== 'object' || period === null) return true;
  const start = str((period as Json)['start']);
  const end = str((period as Json)['end']);
  if (start !== null && new Date(start) > now) return false;
  if (end !== null && new Date(end) < now) return false;
  return true;
}

function codings(cc: unknown): Array<{ system?: string; code?: string }> {
  const coding = (cc as Json | undefined)?.['coding'];
  return Array.isArray(coding) ? (coding as Array<{ system?: string; code?: string }>) : [];
}

/** A coding as `system|code` and, for matching codes given without a system, as `code`. */
function tokens(c: { system?: string; code?: string } | Json): string[] {
  const code = (c as { code?: unknown }).code;
  const system = (c as { system?: unknown }).system;
  if (typeof code !== 'string') return [];
  return typeof system === 'string' ? [`${system}|${code}`, code] : [code];
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
