#!/usr/bin/env node
/**
 * The demo's own entry point (`npm run demo [-- --port <port>]`), apart from the product's CLI: the
 * demo embeds an in-memory FHIR server and a token issuer that signs whatever it is asked to, so it
 * and its dependencies (@medplum/*, dev dependencies) stay out of the published package and the
 * image ("files" in package.json leaves dist/devkit out; test/integration/production-tree.test.ts).
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write('usage: npm run demo [-- --port <port>]   embedded FHIR server, token issuer and gateway (development only)\n');
    return 0;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    process.stderr.write(`demo: --port must be a port number, not ${values.port}\n`);
    return 2;
  }
  const demo = await runDemo(port === undefined ? {} : { port });
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
