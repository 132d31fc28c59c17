#!/usr/bin/env node
/**
 * fhir-gateway: the product's command line.
 *
 *   fhir-gateway serve --config <file.yaml>   run the gateway
 *   fhir-gateway demo [--port 8080] [--auth-port 8081] [--allow-origin <origin>]...
 *                                             the gateway with an embedded FHIR server and authorization server
 *   fhir-gateway demo token --role <role> ... a token of a demo role from the running demo
 *   fhir-gateway audit verify <file...|redis://host:port[/db]> [--stream name] [--key-file f]
 *   fhir-gateway policy build|test|eval|diff                 policy authoring tools (src/policy-cli)
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from './config/load.js';
import { shutdownBudgetMs } from './lifecycle.js';
import { BundleError } from './policy/bundle.js';
import { POLICY_USAGE } from './policy-cli/usage.js';
import { startGateway } from './server.js';

const USAGE = `usage:
  fhir-gateway serve --config <file.yaml>   run the gateway (environment overrides: see README)
  fhir-gateway demo [--port <port>] [--auth-port <port>] [--allow-origin <origin>]...
                                            run the demo: embedded FHIR server, SMART authorization server
                                            (oidc-provider) and gateway
  fhir-gateway demo token --role <role> [--scope <s>] [--patient <id>] [--purpose BTG --reason <text>]
                          [--acr mfa|password] [--auth-age <s>] [--issuer <url>]
                                            print a token of a demo role from the running demo
  fhir-gateway audit verify <file>... | <redis://host:port[/db]> [--stream <name>] [--key-file <file>]
                                            check an audit trail's hash chain (key: FHIRGW_AUDIT_HMAC_KEY
                                            or --key-file); exit 0 intact, 1 broken, 2 cannot check
${POLICY_USAGE}
  fhir-gateway --help`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, strict: true });
      if (!values.config) {
        process.stderr.write(`serve needs --config <file.yaml>\n${USAGE}\n`);
        return 2;
      }
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
    case 'demo': {
      if (rest[0] === 'token') {
        const { runDemoToken } = await import('./devkit/demo-token.js');
        return runDemoToken(rest.slice(1));
      }
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, 'auth-port': { type: 'string' }, 'allow-origin': { type: 'string', multiple: true } }, strict: true });
      const { runDemo } = await import('./devkit/demo.js');
      const demo = await runDemo({
        ...(values.port === undefined ? {} : { port: Number(values.port) }),
        ...(values['auth-port'] === undefined ? {} : { authPort: Number(values['auth-port']) }),
        ...(values['allow-origin'] === undefined ? {} : { allowOrigins: values['allow-origin'] }),
      });
      await untilSignal();
      await demo.close();
      return 0;
    }
    case 'audit': {
      const { runAuditCommand } = await import('./audit/verify-command.js');
      return runAuditCommand(rest, USAGE);
    }
    case 'policy': {
      const { runPolicyCommand } = await import('./policy-cli/command.js');
      return runPolicyCommand(rest);
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
      return 2;
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
    if (err instanceof ConfigError || err instanceof BundleError) {
      process.stderr.write(`fhir-gateway: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`fhir-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
