/**
 * The privacy office's commands, reading the audit store (PostgreSQL: `--store postgres://...`,
 * the password from PGPASSWORD; or an embedded PGlite directory: `--embedded <dir>`):
 *
 *   fhir-gateway audit disclosures --patient <id> --from <date> --to <date> [--format json|csv|fhir] [--include-tpo]
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
import { CaseTransitionError, type CaseKind, type CaseStatus } from '../cases/case.js';
import { createSqlCaseStore } from '../cases/sql-store.js';
import { CLI_REVIEWER_ISSUER } from '../cases/transition-record.js';
import { breachScopeCsv } from './breach-scope.js';
import { disclosuresCsv, disclosuresFhir } from './disclosures.js';
import { breachScope, disclosures, type BreachSelector } from './store-reports.js';
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

export function parseDate(value: string | undefined, option: string, endOfDay: boolean): Date {
  if (value === undefined) throw new UsageError(`${option} is required`);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const t = Date.parse(dateOnly ? `${value}T00:00:00Z` : value);
  if (!Number.isFinite(t) || !(dateOnly || /^\d{4}-\d{2}-\d{2}T/.test(value))) throw new UsageError(`${option}: not an ISO date or date-time: ${value}`);
  return new Date(dateOnly && endOfDay ? t + 86_400_000 : t);
}

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
    if (!['json', 'csv', 'fhir'].includes(values.format)) throw new UsageError('--format is json, csv or fhir');
    const window = { from: parseDate(values.from, '--from', false), to: parseDate(values.to, '--to', true) };
    const db = await openDb(values);
    try {
      const { records, disclosures: list } = await disclosures(createStoreReader(db), values.patient, window, { includeTpo: values['include-tpo'], organisation: values.organisation ?? null });
      if (values.format === 'csv') process.stdout.write(disclosuresCsv(list));
      else if (values.format === 'fhir') process.stdout.write(`${JSON.stringify(disclosuresFhir(records, list, values.patient, values['public-base-url'] ?? 'urn:fhir-gateway'), null, 2)}\n`);
      else process.stdout.write(`${JSON.stringify({ patient: values.patient, from: window.from.toISOString(), to: window.to.toISOString(), includeTpo: values['include-tpo'], disclosures: list }, null, 2)}\n`);
      return 0;
    } finally {
      await db.close();
    }
  }, 'audit disclosures');
}

export function selectorOf(values: { subject?: string | undefined; client?: string | undefined; jti?: string | undefined; address?: string | undefined }): BreachSelector {
  const given = [values.subject, values.client, values.jti, values.address].filter((v) => v !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one of --subject, --client, --jti and --address');
  if (values.subject !== undefined) {
    const m = /^(\S+)\s+(\S+)$/.exec(values.subject.trim());
    if (!m) throw new UsageError('--subject is "<issuer> <subject>"');
    return { subject: { iss: m[1] as string, sub: m[2] as string } };
  }
  if (values.client !== undefined) return { client: values.client };
  if (values.jti !== undefined) return { jti: values.jti };
  return { address: values.address as string };
}

export function runBreachScopeCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return run(async () => {
    const { values } = parseArgs({
      args,
      options: { ...STORE_OPTIONS, subject: { type: 'string' }, client: { type: 'string' }, jti: { type: 'string' }, iss: { type: 'string' }, address: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string', default: 'json' }, revoke: { type: 'boolean', default: false }, gateway: { type: 'string' } },
      strict: true,
    });
    const selector = selectorOf(values);
    if (!['json', 'csv'].includes(values.format)) throw new UsageError('--format is json or csv');
    const window = { from: parseDate(values.from, '--from', false), to: parseDate(values.to, '--to', true) };
    if (values.revoke) {
      if ('address' in selector) throw new UsageError('--revoke revokes a subject, a client or a token (jti): an address is not a credential; block it at the network edge');
      if (('jti' in selector || 'client' in selector) && !values.iss) throw new UsageError('--revoke with --jti or --client needs --iss <issuer>');
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
    if (values.revoke) {
      const body = 'subject' in selector ? { iss: selector.subject.iss, sub: selector.subject.sub } : 'client' in selector ? { iss: values.iss, client_id: selector.client } : { iss: values.iss, jti: (selector as { jti: string }).jti };
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
        if (values.status !== undefined && !['open', 'justified', 'unjustified'].includes(values.status)) throw new UsageError('--status is open, justified or unjustified');
        if (values.kind !== undefined && !['break-glass', 'protection-change', 'detection'].includes(values.kind)) throw new UsageError('--kind is break-glass, protection-change or detection');
        const list = await cases.list({
          ...(values.status ? { status: values.status as CaseStatus } : {}),
          ...(values.kind ? { kind: values.kind as CaseKind } : {}),
          ...(values.patient ? { patient: values.patient } : {}),
          limit: values.limit ? Number(values.limit) : 100,
        });
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
      const closed = await cases.closeAs(id, values.status, { iss: CLI_REVIEWER_ISSUER, sub: values.reviewer, clientId: 'fhir-gateway-cli', roles: ['privacy-officer'] }, values.note, new Date().toISOString());
      process.stdout.write(`${JSON.stringify(closed, null, 2)}\n`);
      return 0;
    } finally {
      await db.close();
    }
  }, 'review');
}
