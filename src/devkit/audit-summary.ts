/**
 * The demo's audit trail, one line per request: the full records go to a file (JSON lines, hash
 * chained), and this follows the file and prints a summary of each, so the terminal running the
 * demo shows what the gateway decided while curl's output stays readable in another.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface Follower {
  stop(): Promise<void>;
}

export function followAuditTrail(file: string, out: NodeJS.WritableStream, intervalMs = 200): Follower {
  let offset = 0;
  let rest = '';
  let handle: FileHandle | null = null;
  let reading: Promise<void> = Promise.resolve();
  const poll = async (): Promise<void> => {
    handle ??= await open(file, 'r').catch(() => null);
    if (!handle) return;
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      const lines = (rest + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const summary = summaryOf(line);
        if (summary) out.write(`${summary}\n`);
      }
    }
  };
  const timer = setInterval(() => {
    reading = reading.then(poll).catch(() => undefined);
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await reading;
      await poll().catch(() => undefined);
      await handle?.close();
    },
  };
}

/** `10:00:01 audit 200 read Observation/obs-1 by Practitioner/prac-hopper [clinician] allow scope.ok, released 1 withheld 0`. */
export function summaryOf(line: string): string | null {
  let record: AuditLine;
  try {
    record = JSON.parse(line) as AuditLine;
  } catch {
    return null;
  }
  if (record.kind !== 'request') return null;
  const r = record.request;
  const target = r ? [r.type, r.id].filter((x) => x).join('/') || (r.operation ? `$${r.operation}` : '') : '';
  const who = record.principal ? `${record.principal.sub ?? record.principal.client_id ?? '?'} [${record.principal.roles.join(',') || 'no role'}]` : 'no token';
  const o = record.outcome;
  const entries = record.entries ? `, released ${record.entries.returned} withheld ${record.entries.withheld}` : '';
  const flags = `${o.breakGlass ? ' BREAK-THE-GLASS' : ''}`;
  return `${record.time.slice(11, 19)} audit ${o.status} ${r?.interaction ?? 'refused'} ${target} by ${who} ${o.decision}${o.reasons.length ? ` ${o.reasons.slice(0, 4).join(',')}` : ''}${o.error ? ` (${o.error})` : ''}${entries}${flags}`.replace(/ +/g, ' ');
}

interface AuditLine {
  readonly kind: string;
  readonly time: string;
  readonly request: { readonly interaction: string; readonly type: string | null; readonly id: string | null; readonly operation: string | null } | null;
  readonly principal: { readonly sub: string | null; readonly client_id: string | null; readonly roles: readonly string[] } | null;
  readonly outcome: { readonly status: number; readonly decision: string; readonly reasons: readonly string[]; readonly error: string | null; readonly breakGlass: boolean };
  readonly entries: { readonly returned: number; readonly withheld: number } | null;
}
