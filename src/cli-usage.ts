/**
 * The help of every command and subcommand of `fhir-gateway`, in one table (`--help` loads nothing
 * else). docs/operations.md#command-line documents the same commands and their exit codes; a test
 * runs `--help` on each entry.
 */
import { PRIVACY_USAGE } from './privacy/usage.js';
export const EXIT_CODES = `exit codes:
  0  success
  1  failure at run time (a broken audit chain, failing policy tests, decisions a policy diff
     changes, a shutdown that overran its budget, an unexpected error)
  2  usage or configuration error (an unknown option, an invalid configuration, a file, secret or
     bundle that cannot be used; audit verify: the trail cannot be checked)`;

const ENTRIES: ReadonlyArray<readonly [command: string, usage: string]> = [
  [
    'serve',
    `fhir-gateway serve --config <file.yaml>
  Runs the gateway. Environment variables override keys of the file (README, "Environment").
  options:
    -c, --config <file>   the configuration file (YAML)
    -h, --help            this help
  Stops on SIGTERM/SIGINT after draining (lifecycle.*); a configuration problem exits 2 naming its key.`,
  ],
  [
    'demo',
    `npm run demo [-- --port <port>]   (in a source checkout; \`fhir-gateway demo\` exits 2)
  The demo is a development tool, not part of the gateway: an embedded FHIR server with synthetic
  patients, a SMART authorization server (oidc-provider) whose demo endpoint signs what it is asked
  to, and the gateway, with curl lines to try it. The production package and image do not contain it.
  options:
    --port <port>              the gateway's port (default 8080)
    --auth-port <port>         the authorization server's port (default 8081)
    --allow-origin <origin>    a browser app's origin allowed by CORS (repeatable)
  npm run demo -- token --role <role> [--scope <s>] [--patient <id>] [--purpose BTG --reason <text>]
                        [--acr mfa|password] [--auth-age <s>] [--issuer <url>]
    prints a token of a demo role from the running demo`,
  ],
  [
    'config',
    `fhir-gateway config check --config <file.yaml>
  Checks a configuration without starting the gateway.`,
  ],
  [
    'config check',
    `fhir-gateway config check --config <file.yaml>
  A dry run of start-up: validates the file (every problem at once), reads the files and secrets it
  names, fetches each issuer's discovery document and JWKS, loads the policy bundle, and prints the
  configuration the gateway would run with, secrets masked. Warns about unknown FHIRGW_* variables.
  Listens on nothing, creates no spool, writes no audit record, does not contact Redis.
  options:
    -c, --config <file>   the configuration file (YAML)
    -h, --help            this help
  exit 0 when the gateway would start and become ready, 2 on any problem.`,
  ],
  [
    'audit',
    `fhir-gateway audit verify|disclosures|breach-scope
  Audit trail tools: check a trail's hash chain; the privacy office's reports from the audit store.
${PRIVACY_USAGE}`,
  ],
  [
    'audit verify',
    `fhir-gateway audit verify <file>... | <redis://host:port[/db]> | <postgres://user@host/db> | --embedded <dir> [--stream <name>] [--key-file <file>]
  Checks an audit trail's hash chain: files in order (rotated ones first), a Redis stream, or the
  audit store (PostgreSQL, or the embedded PGlite directory).
  options:
    --stream <name>     the Redis stream (default fhirgw:audit)
    --embedded <dir>    the embedded audit store's directory
    --key-file <file>   the audit HMAC key (default: FHIRGW_AUDIT_HMAC_KEY)
    -h, --help          this help
  exit 0 intact, 1 broken (the report says where), 2 cannot check.`,
  ],
  [
    'audit disclosures',
    `${PRIVACY_USAGE.split('\n').slice(0, 2).join('\n')}
  The accounting of disclosures of one patient (45 CFR 164.528), from the audit store.`,
  ],
  [
    'audit breach-scope',
    `${PRIVACY_USAGE.split('\n').slice(2, 5).join('\n')}
  Every patient a subject, client, token or address reached, with each record's chain checked.`,
  ],
  [
    'review',
    `${PRIVACY_USAGE.split('\n').slice(5).join('\n')}
  Break-the-glass and detection review cases.`,
  ],
  [
    'policy',
    `fhir-gateway policy build|test|eval|diff
  Policy authoring tools (docs/policy-guide.md).`,
  ],
  [
    'policy build',
    `fhir-gateway policy build [--dir policies] [--out policies/dist/bundle.tar.gz]
  Compiles a policy tree into a WebAssembly bundle (needs opa: FHIRGW_OPA, PATH or .tools/bin).
  exit 0 built, 1 opa failed, 2 usage.`,
  ],
  [
    'policy test',
    `fhir-gateway policy test [--dir policies] [--coverage 90]
  opa fmt, opa check --strict, opa test -t wasm, and line coverage against the threshold.
  exit 0 passed, 1 failed or below the threshold, 2 usage.`,
  ],
  [
    'policy eval',
    `fhir-gateway policy eval --input <request.json> [--bundle <file>] [--data <file>] [--json]
  Decides one request (and its answer): decision, reasons, obligations, and the resource as it
  would be released.
  exit 0 evaluated, 2 bad input.`,
  ],
  [
    'policy diff',
    `fhir-gateway policy diff --against <candidate.tar.gz> --replay <audit.jsonl>... [--bundle <baseline>] [--data <file>] [--json]
  Replays recorded requests against a candidate bundle and lists every decision that would change.
  exit 0 no change, 1 decisions change, 2 bad input.`,
  ],
];

const USAGES = new Map(ENTRIES);

/** Every command with help of its own (tests run `--help` on each). */
export const COMMANDS_WITH_HELP: readonly string[] = ENTRIES.map(([c]) => c);

export const GENERAL_USAGE = `usage:
  fhir-gateway serve --config <file.yaml>            run the gateway
  fhir-gateway config check --config <file.yaml>     check a configuration (dry run), secrets masked
  npm run demo                                       the demo, in a source checkout (not in the package)
  fhir-gateway audit verify <file>... | <redis://…>  check an audit trail's hash chain
  fhir-gateway audit disclosures|breach-scope ...    the privacy office's reports (audit store)
  fhir-gateway review list|show|close ...            review cases
  fhir-gateway policy build|test|eval|diff           policy authoring tools
  fhir-gateway <command> [<subcommand>] --help       help on a command
  fhir-gateway --version                             the version

${EXIT_CODES}`;

/**
 * The help for the longest known command prefix of `words` (positional words only), or null when
 * the first word is no command.
 */
export function usageFor(words: readonly string[]): string | null {
  for (let n = Math.min(words.length, 2); n > 0; n--) {
    const usage = USAGES.get(words.slice(0, n).join(' '));
    if (usage !== undefined) return `usage:\n  ${usage}\n\n${EXIT_CODES}`;
  }
  return words.length === 0 ? GENERAL_USAGE : null;
}

