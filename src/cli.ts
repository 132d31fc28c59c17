#!/usr/bin/env node
/**
 * fhir-gateway: the product's command line. Every command's help and the exit codes are in
 * src/cli-usage.ts (`fhir-gateway <command> --help`).
 *
 *   fhir-gateway serve --config <file.yaml>          run the gateway
 *   fhir-gateway config check --config <file.yaml>   dry run of start-up, configuration printed with secrets masked
 *   fhir-gateway audit verify <file...|redis://host:port[/db]> [--stream name] [--key-file f]
 *   fhir-gateway policy build|test|eval|diff         policy authoring tools (src/policy-cli)
 *   fhir-gateway audit disclosures|breach-scope ...  the privacy office's reports (src/privacy)
 *   fhir-gateway review list|show|close ...          review cases (src/privacy, src/cases)
 */
import { parseArgs } from 'node:util';
import { GENERAL_USAGE, usageFor } from './cli-usage.js';
import { buildInfo } from './version.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { shutdownBudgetMs } from './lifecycle.js';
import { BundleError } from './policy/bundle.js';
import { startGateway } from './server.js';

const USAGE = GENERAL_USAGE;

/** Raised for a command line that cannot be run; exit 2 with the command's help. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly words: readonly string[],
  ) {
    super(message);
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    const build = buildInfo();
    process.stdout.write(`fhir-gateway ${build.version} (revision ${build.revision}, node ${build.node})\n`);
    return 0;
  }
  // `--help` anywhere (before `--`), or `help <command>`: the help of the command named before it.
  const end = argv.indexOf('--') === -1 ? argv.length : argv.indexOf('--');
  const helpAt = argv.slice(0, end).findIndex((a) => a === '--help' || a === '-h');
  if (helpAt !== -1 || argv[0] === 'help') {
    const words = (argv[0] === 'help' ? argv.slice(1) : argv.slice(0, helpAt)).filter((a) => !a.startsWith('-'));
    const usage = usageFor(words);
    if (usage === null) {
      process.stderr.write(`unknown command ${words[0]}\n${USAGE}\n`);
      return 2;
    }
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const [command, ...rest] = argv;
  try {
    return await run(command, rest);
  } catch (err) {
    // node:util parseArgs: an unknown option, a missing value.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message, [command ?? '', ...rest.filter((a) => !a.startsWith('-')).slice(0, 1)]);
    throw err;
  }
}

async function run(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, strict: true });
      if (!values.config) throw new UsageError('serve needs --config <file.yaml>', ['serve']);
      const config = loadConfigFile(values.config);
      const gateway = await startGateway(config);
      await untilSignal();
      // A shutdown that overruns its budget (a stuck sink, a bug) must not outlive Kubernetes'
      // grace period silently: exit 1 so the overrun is visible.
      const budgetMs = shutdownBudgetMs(config);
      setTimeout(() => {
        process.stderr.write(`fhir-gateway: shutdown did not finish within ${budgetMs} ms; exiting\n`);
        process.exit(1);
      }, budgetMs).unref();
      await gateway.close();
      return 0;
    }
    case 'config': {
      const [sub, ...args] = rest;
      if (sub !== 'check') throw new UsageError(sub === undefined ? 'config needs a command' : `unknown config command ${sub}`, ['config']);
      const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true });
      if (!values.config) throw new UsageError('config check needs --config <file.yaml>', ['config', 'check']);
      const { checkConfig, formatCheckReport } = await import('./config-check.js');
      const report = await checkConfig(values.config);
      process.stdout.write(formatCheckReport(report));
      return report.problems.length === 0 ? 0 : 2;
    }
    case 'demo':
      // The demo is not part of the product (src/devkit/main.ts): its token issuer signs anything.
      process.stderr.write('fhir-gateway: the demo is a development tool, not part of the gateway: run `npm run demo` in a source checkout\n');
      return 2;
    case 'audit': {
      const { runAuditCommand } = await import('./audit/verify-command.js');
      return runAuditCommand(rest, usageFor(['audit', 'verify']) ?? USAGE);
    }
    case 'review': {
      const { runReviewCommand } = await import('./privacy/command.js');
      return runReviewCommand(rest, USAGE);
    }
    case 'policy': {
      const { runPolicyCommand } = await import('./policy-cli/command.js');
      return runPolicyCommand(rest);
    }
    case undefined:
      process.stderr.write(`${USAGE}\n`);
      return 2;
    default:
      throw new UsageError(`unknown command ${command}`, []);
  }
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`fhir-gateway: ${err.message}\n${usageFor(err.words) ?? USAGE}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigError || err instanceof BundleError) {
      process.stderr.write(`fhir-gateway: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`fhir-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
