/**
 * The privacy office's commands, reading the audit store (PostgreSQL: `--store postgres://...`,
 * the password from PGPASSWORD; or an embedded PGlite directory: `--embedded <dir>`):
 *
 *   fhir-gateway audit disclosures --patient <id> --from <date> --to <date> [--format json|csv|fhir|pdf] [--include-tpo]
 *   fhir-gateway audit breach-scope --subject "<iss> <sub>" | --client <id> | --jti <jti> | --address <ip>
 *                                   --from <date> --to <date> [--format json|csv] [--revoke --gateway <url>]
 *   fhir-gateway review list [--status open|justified|unjustified] [--kind ...] [--patient <id>] [--limit n]
 *   fhir-gateway review show <case id>
 *   fhir-gateway review close <case id> --status justified|unjustified --reviewer <name> --note <text>
 *
 * Dates are ISO dates or date-times; a date alone in `--to` means the end of that day. Exit codes:
 * 0 done, 1 breach scope found the chain broken, 2 cannot run (arguments, store, key).
 */
import { parseArgs } from 'node:util';
import { loadAuditKey } from '../audit/open.js';
import { createStoreReader } from '../audit/store/query.js';
import { migrate } from '../audit/store/migrate.js';
import { pgliteClient, postgresClient, type SqlClient } from '../audit/store/sql.js';
import { CaseTransitionError } from '../cases/case.js';
import { GatewayError } from '../errors.js';
import { createSqlCaseStore } from '../cases/sql-store.js';
import { CLI_REVIEWER_ISSUER } from '../cases/transition-record.js';
import { breachScopeCsv } from './breach-scope.js';
import { disclosuresCsv, disclosuresFhir } from './disclosures.js';
import { disclosuresPdf } from './disclosures-pdf.js';
import { breachSelectorOf, caseFilterOf, closeCase, ReportRequestError, reportWindow, revocationTargetOf } from './requests.js';
import { breachScope, disclosures } from './store-reports.js';
import { PRIVACY_USAGE } from './usage.js';


class UsageError extends Error {}

const STORE_OPTIONS = { store: { type: 'string' }, embedded: { type: 'string' }, 'key-file': { type: 'string' } } as const;

async function openDb(values: { store?: string | undefined; embedded?: string | undefined }): Promise<SqlClient> {
  if ((values.store === undefined) === (values.embedded === undefined)) throw new UsageError('give the audit store: --store <postgres://...> or --embedded <dir>');
  if (values.store !== undefined && !/^postgres(ql)?:\/\//.test(values.store)) throw new UsageError('--store must be a postgres:// URL (the password from PGPASSWORD)');
  const db = values.store !== undefined ? postgresClient({ url: values.store, poolSize: 2 }) : await pgliteClient(values.embedded as string);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

/** The shared readers (requests.ts), as usage errors naming the command's options. */
function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ReportRequestError) throw new UsageError(err.message);
    throw err;
  }
}

const flag = (name: string): string => `--${name}`;
const windowOf = (values: { from?: string | undefined; to?: string | undefined }) => read(() => reportWindow(values.from, values.to, { from: '--from', to: '--to' }));

const keyOf = (values: { 'key-file'?: string | undefined }) => (values['key-file'] ? loadAuditKey({ hmacKeyFile: values['key-file'] }, {}) : loadAuditKey({}, process.env));

async function run(fn: () => Promise<number>, name: string): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fhir-gateway ${name}: ${err.message}\n${PRIVACY_USAGE}\n`);
      return 2;
    }
    if (err instanceof CaseTransitionError) {
      process.stderr.write(`fhir-gateway ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`fhir-gateway ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

export function runDisclosuresCommand(args: string[]): Promise<number> {
  return run(async () => {
    const { values } = parseArgs({ args, options: { ...STORE_OPTIONS, patient: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string', default: 'json' }, 'include-tpo': { type: 'boolean', default: false }, organisation: { type: 'string' }, 'public-base-url': { type: 'string' } }, strict: true });
    if (!values.patient) throw new UsageError('--patient is required');
    if (!['json', 'csv', 'fhir', 'pdf'].includes(values.format)) throw new UsageError('--format is json, csv, fhir or pdf');
    const window = windowOf(values);
    const db = await openDb(values);
    try {
      const { records, disclosures: list } = await disclosures(createStoreReader(db), values.patient, window, { includeTpo: values['include-tpo'], organisation: values.organisation ?? null });
      if (values.format === 'csv') process.stdout.write(disclosuresCsv(list));
      else if (values.format === 'pdf') process.stdout.write(await disclosuresPdf(list, { patient: values.patient, window, includeTpo: values['include-tpo'], generatedAt: new Date(), organisation: values.organisation ?? null }));
      else if (values.format === 'fhir') process.stdout.write(`${JSON.stringify(disclosuresFhir(records, list, values.patient, values['public-base-url'] ?? 'urn:fhir-gateway'), null, 2)}\n`);
      else process.stdout.write(`${JSON.stringify({ patient: values.patient, from: window.from.toISOString(), to: window.to.toISOString(), includeTpo: values['include-tpo'], disclosures: list }, null, 2)}\n`);
      return 0;
    } finally {
      await db.close();
    }
  }, 'audit disclosures');
}

export function runBreachScopeCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return run(async () => {
    const { values } = parseArgs({
      args,
      options: { ...STORE_OPTIONS, subject: { type: 'string' }, client: { type: 'string' }, jti: { type: 'string' }, iss: { type: 'string' }, address: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string', default: 'json' }, revoke: { type: 'boolean', default: false }, gateway: { type: 'string' } },
      strict: true,
    });
    const selector = read(() => breachSelectorOf(values, flag));
    if (!['json', 'csv'].includes(values.format)) throw new UsageError('--format is json or csv');
    const window = windowOf(values);
    const target = values.revoke ? read(() => revocationTargetOf(selector, values.iss)) : null;
    if (target) {
      if (target.iss === undefined) throw new UsageError('--revoke with --jti or --client needs --iss <issuer>');
      if (!values.gateway) throw new UsageError('--revoke needs --gateway <url> (the admin endpoint; its credential from FHIRGW_ADMIN_TOKEN)');
      if (!env['FHIRGW_ADMIN_TOKEN']) throw new UsageError('--revoke needs FHIRGW_ADMIN_TOKEN');
    }
    const key = keyOf(values);
    const db = await openDb(values);
    let scope;
    try {
      scope = await breachScope(createStoreReader(db), selector, window, key);
    } finally {
      await db.close();
    }
    if (values.format === 'csv') process.stdout.write(breachScopeCsv(scope));
    else process.stdout.write(`${JSON.stringify({ selector, from: window.from.toISOString(), to: window.to.toISOString(), ...scope }, null, 2)}\n`);
    const chain = scope.chain;
    if (chain && !chain.ok) process.stderr.write(`CHAIN BROKEN: ${chain.problem?.kind} at ${chain.problem?.position}: ${chain.problem?.detail}\n`);
    if (target) {
      const body = target;
      const res = await fetch(new URL('/admin/revocations', values.gateway as string), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${env['FHIRGW_ADMIN_TOKEN']}` }, body: JSON.stringify(body), redirect: 'error', signal: AbortSignal.timeout(10_000) });
      await res.body?.cancel();
      if (res.status !== 201) {
        process.stderr.write(`fhir-gateway audit breach-scope: the revocation was refused (HTTP ${res.status})\n`);
        return 2;
      }
      process.stderr.write(`revoked: ${'subject' in selector ? 'subject' : 'client' in selector ? 'client' : 'jti'}\n`);
    }
    return chain && !chain.ok ? 1 : 0;
  }, 'audit breach-scope');
}

export function runReviewCommand(args: string[], usage: string): Promise<number> {
  return run(async () => {
    const [sub, ...rest] = args;
    if (sub !== 'list' && sub !== 'show' && sub !== 'close') throw new UsageError(`unknown review command ${sub ?? ''}\n${usage}`);
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...STORE_OPTIONS, status: { type: 'string' }, kind: { type: 'string' }, patient: { type: 'string' }, limit: { type: 'string' }, reviewer: { type: 'string' }, note: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    const db = await openDb(values);
    try {
      const cases = createSqlCaseStore({ db, transitions: { instance: 'review', key: keyOf(values), policyRevision: 'review-cli' } });
      if (sub === 'list') {
        const list = await cases.list(read(() => caseFilterOf(values, flag)));
        for (const c of list) process.stdout.write(`${c.id}  ${c.status.padEnd(11)} ${c.severity.padEnd(6)} ${c.kind.padEnd(17)} ${c.openedAt}  ${c.user.fhirUser ?? `${c.user.iss}|${c.user.sub ?? ''}`}  ${c.patient ?? '-'}  ${c.findings.map((f) => f.signal).join(',')}\n`);
        return 0;
      }
      const id = positionals[0];
      if (id === undefined) throw new UsageError(`review ${sub} needs a case id`);
      if (sub === 'show') {
        const c = await cases.get(id);
        if (c === null) throw new CaseTransitionError('case_not_found', id);
        process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
        return 0;
      }
      if (values.status !== 'justified' && values.status !== 'unjustified') throw new UsageError('review close needs --status justified|unjustified');
      if (!values.reviewer || !values.note) throw new UsageError('review close needs --reviewer and --note');
      const closed = await closeCase(cases, id, values.status, values.note, { iss: CLI_REVIEWER_ISSUER, sub: values.reviewer, clientId: 'fhir-gateway-cli', roles: ['privacy-officer'] }).catch((err: unknown) => {
        throw err instanceof GatewayError ? new CaseTransitionError(err.reasons[0] === 'review.case_not_found' ? 'case_not_found' : 'case_not_open', id) : err;
      });
      process.stdout.write(`${JSON.stringify(closed, null, 2)}\n`);
      return 0;
    } finally {
      await db.close();
    }
  }, 'review');
}
