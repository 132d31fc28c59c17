/**
 * SMART App Launch scopes, v1 and v2, into structured grants that policy reads.
 *
 *   v1: patient/Observation.read   -> perms "rs"     (.write -> "cud", .* -> "cruds")
 *   v2: patient/Observation.rs     -> perms "rs"     (letters c r u d s, in that order, each at most once)
 *   v2 granular: patient/Observation.rs?category=http://...|laboratory -> query [{ name, value }]
 *
 * A scope that does not parse is ignored (kept in `invalid` for the audit record), never fatal: an
 * IdP that adds a scope the gateway does not know must not lock users out, and a malformed scope
 * grants nothing.
 */
import { R4_RESOURCE_TYPES } from '../fhir/generated/r4.js';

export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface ResourceScope {
  /** The scope string as granted. */
  readonly scope: string;
  readonly context: ScopeContext;
  /** A resource type, or `*`. */
  readonly type: string;
  /** The granted permissions as a string of letters in c r u d s order, e.g. "rs". */
  readonly perms: string;
  /** SMART v2 granular restriction: the resource must match every name=value (AND). */
  readonly query: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly version: 1 | 2;
}

export interface ParsedScopes {
  readonly resources: readonly ResourceScope[];
  /** `launch`, `launch/patient`, `openid`, `fhirUser`, `offline_access`, `online_access`, ... */
  readonly other: readonly string[];
  readonly invalid: readonly string[];
}

const TYPES = new Set(R4_RESOURCE_TYPES);
const SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([A-Za-z*]+)(?:\?(.+))?$/;
const V2_PERMS = /^c?r?u?d?s?$/;
const V1_PERMS: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };
/**
 * Scopes that grant no resource access but are meaningful: SMART launch context requests
 * (`launch`, `launch/patient`, `launch/encounter`), OpenID Connect identity, refresh tokens.
 */
const KNOWN_OTHER = /^(launch(\/[a-z][a-zA-Z]*)?|openid|fhirUser|profile|email|offline_access|online_access)$/;
/** A scope token is at most this long; longer ones are ignored (they grant nothing anyway). */
const MAX_SCOPE_LENGTH = 512;

export function parseScopes(scope: string | readonly string[] | undefined): ParsedScopes {
  const tokens = typeof scope === 'string' ? scope.split(' ') : (scope ?? []);
  const resources: ResourceScope[] = [];
  const other: string[] = [];
  const invalid: string[] = [];
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token === '' || seen.has(token)) continue;
    seen.add(token);
    if (token.length > MAX_SCOPE_LENGTH) {
      invalid.push(`${token.slice(0, 64)}…`);
      continue;
    }
    const parsed = parseResourceScope(token);
    if (parsed) resources.push(parsed);
    else if (KNOWN_OTHER.test(token)) other.push(token);
    else invalid.push(token);
  }
  return { resources, other, invalid };
}

export function parseResourceScope(token: string): ResourceScope | null {
  const m = SCOPE.exec(token);
  if (!m) return null;
  const [, context, type, permText, queryText] = m as unknown as [string, ScopeContext, string, string, string | undefined];
  if (type !== '*' && !TYPES.has(type)) return null;

  let perms: string;
  let version: 1 | 2;
  if (permText in V1_PERMS) {
    if (queryText !== undefined) return null; // granular restrictions exist only in v2
    perms = V1_PERMS[permText] as string;
    version = 1;
  } else if (permText !== '' && V2_PERMS.test(permText)) {
    perms = permText;
    version = 2;
  } else {
    return null;
  }

  const query = queryText === undefined ? [] : parseScopeQuery(queryText);
  if (query === null) return null;
  return { scope: token, context, type, perms, query, version };
}

// A granular restriction names a search parameter (optionally with a modifier, e.g. `code:in`).
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_\-]*(:[A-Za-z\-]+)?$/;

function parseScopeQuery(text: string): Array<{ name: string; value: string }> | null {
  const out: Array<{ name: string; value: string }> = [];
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) return null;
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(part.slice(0, eq));
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      return null;
    }
    // A malformed parameter name or a control character would reach policy as something it never expected.
    if (!PARAM_NAME.test(name) || /[\u0000-\u001f\u007f]/.test(value)) return null;
    out.push({ name, value });
  }
  return out;
}
