/**
 * The stack the console's tests run against: a real gateway in front of Medplum's FHIR engine,
 * its audit store in a real PostgreSQL, a real Redis carrying the record stream the detector (and
 * so the review cases) consumes and the revocation list, a shadow bundle file the gateway watches
 * (empty until the console ships one), and the console on `port` signing in at `idp`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { TEST_KEY } from './audit.js';
import type { ConsoleIdp } from './console-idp.js';
import { startPostgresServer, type PostgresServer } from './postgres.js';
import { startRedisServer, type RedisServer } from './redis.js';
import { startStack, type Stack } from './stack.js';

export interface ConsoleStack {
  readonly stack: Stack;
  readonly consoleUrl: string;
  /** policy.shadow.bundle: the file "ship in shadow mode" writes. */
  readonly shadowBundle: string;
  /** A scratch directory removed on close. */
  readonly dir: string;
  close(): Promise<void>;
}

/** An Observation labelled HIV and restricted: reading it needs break-the-glass, which opens a review case. */
export const RESTRICTED_OBSERVATION = 'obs-hiv-label';

export async function startConsoleStack(port: number, idp: ConsoleIdp): Promise<ConsoleStack> {
  let redis: RedisServer | undefined;
  let pg: PostgresServer | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-console-'));
  try {
    [redis, pg] = await Promise.all([startRedisServer(), startPostgresServer()]);
    const shadowBundle = path.join(dir, 'shadow', 'bundle.tar.gz');
    const consoleUrl = `http://127.0.0.1:${port}`;
    const redisUrl = redis.url;
    const pgUrl = pg.url;
    const stack = await startStack({
      env: { FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8') },
      config: (d) => ({
        ...d,
        redis: { url: redisUrl },
        policy: { shadow: { bundle: shadowBundle }, watchIntervalMs: 100 },
        audit: { sinks: [...(d.audit?.sinks ?? []), { type: 'redis', name: 'stream', stream: 'fhirgw:audit', format: 'record' }, { type: 'postgres', name: 'store', url: pgUrl }] },
        detect: { signals: [], consumer: 'console-tests' },
        console: { host: '127.0.0.1', port, oidc: { issuer: idp.issuer, clientId: 'fhir-console', scope: 'openid profile roles' }, sessionTtlSeconds: 900 },
      }),
    });
    await stack.fhir.repo.updateResource({
      resourceType: 'Observation',
      id: RESTRICTED_OBSERVATION,
      status: 'final',
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' }, { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
      code: { text: 'Viral load' },
      subject: { reference: 'Patient/pat-alba' },
    } as Resource);
    const [r, p] = [redis, pg];
    return {
      stack,
      consoleUrl,
      shadowBundle,
      dir,
      async close() {
        await stack.close();
        await Promise.all([r.stop(), p.stop()]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all([redis?.stop(), pg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A clinician's token that may break the glass (a multi-factor login, a stated reason), as policy requires. */
export function breakGlassClaims(sub: string, reason: string): Record<string, unknown> {
  return { sub, fhirUser: sub, scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['BTG'], break_glass_reason: reason, amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) };
}
