/**
 * `npm run demo -- token --role nurse [--scope 'user/*.cruds'] [--patient id] [--purpose BTG
 * --reason "…"] [--acr mfa|password|<value>] [--auth-age seconds] [--issuer url]`: asks the
 * running demo's authorization server for an access token of a demo role and prints it.
 */
import { parseArgs } from 'node:util';
import { DEMO_ACR } from './authorization-server.js';
import { DEMO_ROLES } from './demo-roles.js';

/** Where the demo's authorization server listens unless its port was taken (the demo then prints its issuer). */
export const DEFAULT_DEMO_ISSUER = 'http://127.0.0.1:8081';

export const DEMO_TOKEN_USAGE = `usage: npm run demo -- token --role <${Object.keys(DEMO_ROLES).join('|')}>
         [--scope <scopes>] [--patient <id>] [--purpose <code>]... [--reason <text>]
         [--acr mfa|password|<acr value>] [--auth-age <seconds>] [--issuer <url>]
  prints an access token from the running demo's authorization server (default issuer ${DEFAULT_DEMO_ISSUER})`;

export async function runDemoToken(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        role: { type: 'string' },
        scope: { type: 'string' },
        patient: { type: 'string' },
        purpose: { type: 'string', multiple: true },
        reason: { type: 'string' },
        acr: { type: 'string' },
        'auth-age': { type: 'string' },
        issuer: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`${e instanceof Error ? e.message : String(e)}\n${DEMO_TOKEN_USAGE}\n`);
    return 2;
  }
  const role = values.role === undefined ? undefined : DEMO_ROLES[values.role];
  if (!role) {
    err.write(`--role must be one of ${Object.keys(DEMO_ROLES).join(', ')}\n${DEMO_TOKEN_USAGE}\n`);
    return 2;
  }
  const authAge = values['auth-age'] === undefined ? 0 : Number(values['auth-age']);
  if (!Number.isInteger(authAge) || authAge < 0) {
    err.write(`--auth-age must be a whole number of seconds\n`);
    return 2;
  }
  const acr = values.acr === undefined || values.acr === 'mfa' ? DEMO_ACR.mfa : values.acr === 'password' ? DEMO_ACR.password : values.acr;
  const patient = values.patient ?? role.patient;
  const issuer = (values.issuer ?? DEFAULT_DEMO_ISSUER).replace(/\/+$/, '');
  const body = {
    sub: role.sub,
    scope: values.scope ?? role.scope,
    roles: role.roles,
    purposeOfUse: values.purpose ?? role.purposes,
    ...(values.reason ? { breakGlassReason: values.reason } : {}),
    ...(patient ? { patient } : {}),
    ...(role.fhirUser ? { fhirUser: role.fhirUser } : {}),
    acr,
    authAgeSeconds: authAge,
  };
  let res: Response;
  try {
    res = await fetch(`${issuer}/demo/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch {
    err.write(`cannot reach the demo's authorization server at ${issuer}: is \`npm run demo\` running? (--issuer names another)\n`);
    return 1;
  }
  if (res.status !== 200) {
    err.write(`the demo's authorization server refused: ${res.status} ${await res.text()}\n`);
    return 1;
  }
  const { access_token: token } = (await res.json()) as { access_token: string };
  out.write(`${token}\n`);
  return 0;
}
