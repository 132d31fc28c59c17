/**
 * Query strings, read exactly one way: split on `&`, then on the first `=`, then percent-decoded
 * strictly (`+` is a space, as servlet containers and HAPI read it). Malformed escapes and invalid
 * UTF-8 are refused rather than guessed at, and what goes upstream is re-encoded from the decoded
 * values, so the gateway and the FHIR server always read the same parameters.
 */
import { GatewayError } from '../errors.js';
import type { SearchParam } from './request.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_\-.]*(:[A-Za-z0-9_\-.:]+)?$/;
// Control characters can split headers or log lines further down the line; no FHIR value needs them.
const CONTROL = /[\u0000-\u001f\u007f]/;

export function parseQueryString(raw: string): SearchParam[] {
  if (raw === '') return [];
  const params: SearchParam[] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const name = decodeComponent(rawName, undefined);
    // A value that does not decode names its parameter, once the name itself is well formed.
    params.push(makeParam(name, decodeComponent(rawValue, NAME.test(name) ? baseName(name) : undefined)));
  }
  return params;
}

export function makeParam(fullName: string, value: string): SearchParam {
  if (!NAME.test(fullName)) throw new GatewayError('invalid_search_parameter', { reasons: ['param.malformed-name'] });
  const name = baseName(fullName);
  if (CONTROL.test(value)) throw new GatewayError('invalid_search_parameter', { reasons: ['param.control-character'], parameter: name });
  const modifier = name === fullName ? null : fullName.slice(name.length + 1);
  return { name, modifier, value, values: splitOr(value) };
}

/** The name without its modifier. `_has:Observation:patient:code` keeps its colons: the whole chain is the parameter. */
function baseName(fullName: string): string {
  const colon = fullName.startsWith('_has:') ? -1 : fullName.indexOf(':');
  return colon === -1 ? fullName : fullName.slice(0, colon);
}

/** `parameter`: the (well-formed) name to report when this component is its value. */
function decodeComponent(raw: string, parameter: string | undefined): string {
  const plusAsSpace = raw.replace(/\+/g, ' ');
  try {
    // Throws on a malformed escape and on escapes that are not valid UTF-8 (including encoded surrogates).
    return decodeURIComponent(plusAsSpace);
  } catch {
    throw new GatewayError('invalid_search_parameter', { reasons: ['param.bad-encoding'], ...(parameter !== undefined ? { parameter } : {}) });
  }
}

/** FHIR search: `,` separates OR values; `\,` is a literal comma. */
export function splitOr(value: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && value[i + 1] === ',') {
      current += ',';
      i++;
    } else if (ch === ',') {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}

export function paramFullName(p: SearchParam): string {
  return p.modifier === null ? p.name : `${p.name}:${p.modifier}`;
}

/** Re-encodes parameters for the upstream request. */
export function serializeQuery(params: readonly SearchParam[]): string {
  // Names are restricted to [A-Za-z0-9_.:-] by NAME above, so they need no escaping.
  return params.map((p) => `${paramFullName(p)}=${encodeURIComponent(p.value)}`).join('&');
}
