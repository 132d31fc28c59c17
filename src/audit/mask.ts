/**
 * What of a search parameter's value the audit trail keeps. Values are often names, birth dates,
 * MRNs or phone numbers, so by default they are removed; parameter names are always kept.
 *
 *   remove  the value is replaced by null (decision-log: listed under `erased`)
 *   hash    HMAC-SHA256 with the audit key: equal values can be correlated, not read back
 *           (decision-log: listed under `masked`); needs a key, since an unkeyed hash of an MRN
 *           is reversed by trying every MRN
 *   keep    the value as sent
 *
 * Names listed in `keepValuesOf` (paging, sorting, summary controls) keep their value in every mode.
 */
import { createHmac } from 'node:crypto';
import type { SearchParam } from '../fhir/request.js';
import { ConfigError } from '../errors-config.js';
import type { RecordParam } from './record.js';

export interface MaskingConfig {
  readonly searchValues: 'remove' | 'hash' | 'keep';
  readonly keepValuesOf: readonly string[];
}

export type ParamMasker = (param: SearchParam) => RecordParam;

export function createParamMasker(config: MaskingConfig, key: Buffer | null): ParamMasker {
  if (config.searchValues === 'hash' && key === null) {
    throw new ConfigError('audit.masking.searchValues', '"hash" needs the audit HMAC key (FHIRGW_AUDIT_HMAC_KEY or audit.hmacKeyFile)');
  }
  const keep = new Set(config.keepValuesOf);
  return (param) => {
    const base = { name: param.name, modifier: param.modifier };
    if (config.searchValues === 'keep' || keep.has(param.name)) return { ...base, value: param.value, mask: 'kept' };
    if (config.searchValues === 'hash' && key !== null) {
      const mac = createHmac('sha256', key).update(`${param.name}=${param.value}`).digest('hex');
      return { ...base, value: `hmac-sha256:${mac}`, mask: 'hashed' };
    }
    return { ...base, value: null, mask: 'removed' };
  };
}
