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
    params.push(makeParam(decodeComponent(rawName), decodeComponent(rawValue)));
  }
  return params;
}

export function makeParam(fullName: string, value: string): SearchParam {
  if (!NAME.test(fullName)) throw new GatewayError('invalid_search_parameter', { reasons: ['param.malformed-name'] });
  if (CONTROL.test(value)) throw new GatewayError('invalid_search_parameter', { reasons: ['param.control-character'] });
  // `_has:Observation:patient:code` keeps its colons in the name: the whole chain is the parameter.
  const colon = fullName.startsWith('_has:') ? -1 : fullName.indexOf(':');
  const name = colon === -1 ? fullName : fullName.slice(0, colon);
  const modifier = colon === -1 ? null : fullName.slice(colon + 1);
  return { name, modifier, value, values: splitOr(value) };
}

function decodeComponent(raw: string): string {
  const plusAsSpace = raw.replace(/\+/g, ' ');
  try {
    // Throws on a malformed escape and on escapes that are not valid UTF-8 (including encoded surrogates).
    return decodeURIComponent(plusAsSpace);
  } catch {
    throw new GatewayError('invalid_search_parameter', { reasons: ['param.bad-encoding'] });
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
