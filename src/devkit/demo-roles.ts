/**
 * The demo's principals, one per default role of the policy library (policies/fhirgw/roles): who
 * they are, why they ask, and the scopes they get unless told otherwise. `npm run demo -- token`
 * and the demo's printed curl lines mint from this table.
 */
import { SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER } from './synthetic-data.js';

export interface DemoRole {
  readonly sub: string;
  readonly fhirUser?: string;
  readonly purposes: readonly string[];
  readonly scope: string;
  readonly patient?: string;
  /** Roles claim; empty for a backend service (policy gives system-only tokens the `system` role). */
  readonly roles: readonly string[];
}

const alba = SYNTHETIC_PATIENTS[0]?.id ?? 'pat-alba';
const practitioner = `Practitioner/${SYNTHETIC_PRACTITIONER.id}`;

export const DEMO_ROLES: Readonly<Record<string, DemoRole>> = {
  patient: { sub: `Patient/${alba}`, fhirUser: `Patient/${alba}`, patient: alba, purposes: [], scope: 'launch/patient openid fhirUser patient/*.rs', roles: ['patient'] },
  clinician: { sub: practitioner, fhirUser: practitioner, purposes: ['TREAT'], scope: 'openid fhirUser user/*.cruds', roles: ['clinician'] },
  nurse: { sub: 'Practitioner/prac-nurse', fhirUser: 'Practitioner/prac-nurse', purposes: ['TREAT'], scope: 'openid fhirUser user/*.cruds', roles: ['nurse'] },
  billing: { sub: 'billing-1', purposes: ['HPAYMT'], scope: 'user/*.rs', roles: ['billing'] },
  researcher: { sub: 'researcher-1', purposes: ['HRESCH'], scope: 'user/*.rs', roles: ['researcher'] },
  'privacy-officer': { sub: 'privacy-1', purposes: [], scope: 'user/*.cruds', roles: ['privacy-officer'] },
  admin: { sub: 'admin-1', purposes: [], scope: 'user/*.cruds', roles: ['admin'] },
  system: { sub: 'demo-backend', purposes: [], scope: 'system/*.rs', roles: [] },
};
