#!/usr/bin/env node
/**
 * The demo's own entry point (`npm run demo [-- --port <port>]`), apart from the product's CLI: the
 * demo embeds an in-memory FHIR server and a token issuer that signs whatever it is asked to, so it
 * and its dependencies (@medplum/*, dev dependencies) stay out of the published package and the
 * image ("files" in package.json leaves dist/devkit out; test/integration/production-tree.test.ts).
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';
import { DEMO_TOKEN_USAGE, runDemoToken } from './demo-token.js';

const USAGE = `usage: npm run demo [-- --port <port>] [--auth-port <port>] [--allow-origin <origin>]...
         embedded FHIR server, SMART authorization server (oidc-provider) and gateway (development only)
       npm run demo -- token --role <role> ...   a token of a demo role from the running demo
${DEMO_TOKEN_USAGE}`;

async function main(argv: string[]): Promise<number> {
  // `token` talks to a running demo's authorization server (no build of anything else needed).
  if (argv[0] === 'token') return runDemoToken(argv.slice(1));
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, 'auth-port': { type: 'string' }, 'allow-origin': { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const ports: Record<string, number | undefined> = {};
  for (const key of ['port', 'auth-port'] as const) {
    const value = values[key];
    const port = value === undefined ? undefined : Number(value);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      process.stderr.write(`demo: --${key} must be a port number, not ${value}\n`);
      return 2;
    }
    ports[key] = port;
  }
  const demo = await runDemo({
    ...(ports['port'] === undefined ? {} : { port: ports['port'] }),
    ...(ports['auth-port'] === undefined ? {} : { authPort: ports['auth-port'] }),
    ...(values['allow-origin'] === undefined ? {} : { allowOrigins: values['allow-origin'] }),
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
