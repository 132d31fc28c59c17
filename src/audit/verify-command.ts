/** The `audit` subcommands of the CLI: `verify`, and the privacy office's `disclosures` and `breach-scope` (src/privacy). */
import { parseArgs } from 'node:util';
import { loadAuditKey } from './open.js';
import { formatReport, verifyTrail, type TrailTarget } from './verify.js';

export async function runAuditCommand(args: string[], usage: string): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'disclosures' || sub === 'breach-scope') {
    const { runBreachScopeCommand, runDisclosuresCommand } = await import('../privacy/command.js');
    return sub === 'disclosures' ? runDisclosuresCommand(rest) : runBreachScopeCommand(rest);
  }
  if (sub !== 'verify') {
    process.stderr.write(`unknown audit command ${sub ?? ''}\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest, options: { stream: { type: 'string' }, 'key-file': { type: 'string' }, embedded: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length === 0 && values.embedded === undefined) {
    process.stderr.write(`audit verify needs a file, a redis:// or postgres:// URL, or --embedded <dir>\n${usage}\n`);
    return 2;
  }
  const first = positionals[0] ?? '';
  // A postgres:// URL's password comes from PGPASSWORD (never the command line, which `ps` shows).
  const target: TrailTarget =
    values.embedded !== undefined
      ? { embeddedDir: values.embedded }
      : /^rediss?:\/\//.test(first)
        ? { redisUrl: first, stream: values.stream ?? 'fhirgw:audit' }
        : /^postgres(ql)?:\/\//.test(first)
          ? { postgresUrl: first }
          : { files: positionals };
  try {
    const keyFile = values['key-file'];
    const key = keyFile ? loadAuditKey({ hmacKeyFile: keyFile }, {}) : loadAuditKey({}, process.env);
    const report = await verifyTrail(target, key);
    process.stdout.write(`${formatReport(report)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`fhir-gateway audit verify: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}
