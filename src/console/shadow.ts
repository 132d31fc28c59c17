/**
 * "Ship in shadow mode" (the Impact page): a candidate built from uploaded sources is installed as
 * the shadow bundle, the file `policy.shadow.bundle` the gateway watches; the gateway loads it
 * beside the enforcing bundle and counts every disagreement (fhirgw_shadow_disagreements_total).
 *
 * Only where the deployment allows it: a shadow bundle file is configured, and bundles need no
 * signature (the console cannot sign; an unsigned candidate would be refused). Otherwise 409
 * `console_shadow_unavailable`, and the page says why. The file is replaced atomically (written
 * beside it, then renamed), so the watcher never reads half a bundle.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { ApiRoute } from './app.js';
import { candidateSchema, withCandidate } from './candidate.js';

export interface ShadowTarget {
  /** policy.shadow.bundle, or null when none is configured. */
  readonly bundleFile: string | null;
  /** policy.signing is configured: every bundle must carry a signature. */
  readonly signingRequired: boolean;
}

const shipSchema = z.strictObject({ candidate: candidateSchema });

/** Why shipping is not possible here, or null when it is. */
export function shadowUnavailable(target: ShadowTarget): string | null {
  if (target.bundleFile === null) return 'this deployment names no shadow bundle (policy.shadow.bundle), so there is nothing to write';
  if (target.signingRequired) return 'bundles must be signed here (policy.signing) and the console cannot sign: build and sign the candidate, then install it as the shadow bundle';
  return null;
}

export function shadowRoutes(target: ShadowTarget, logger: Logger): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/impact/shadow',
      roles: ['policy-author', 'privacy-officer'],
      action: 'impact.shadow',
      handle: async () => {
        const why = shadowUnavailable(target);
        return { status: 200, body: { available: why === null, reason: why, bundle: target.bundleFile === null ? null : path.basename(target.bundleFile) } };
      },
    },
    {
      method: 'POST',
      path: '/impact/ship',
      roles: ['policy-author'],
      action: 'impact.ship',
      handle: async ({ req }) => {
        const why = shadowUnavailable(target);
        if (why !== null || target.bundleFile === null) throw new GatewayError('console_shadow_unavailable', { reasons: ['console.shadow-unavailable'], parameter: why ?? '' });
        const body = shipSchema.safeParse(req.body);
        if (!body.success) throw new GatewayError('console_invalid_request', { reasons: ['console.body'], parameter: body.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') });
        const file = target.bundleFile;
        return withCandidate(body.data.candidate.files, async ({ bundleFile, bundle }) => {
          mkdirSync(path.dirname(file), { recursive: true });
          const partial = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.partial`);
          try {
            copyFileSync(bundleFile, partial);
            renameSync(partial, file);
          } finally {
            rmSync(partial, { force: true });
          }
          logger.info({ revision: bundle.revision }, 'console: candidate shipped as the shadow bundle');
          return { status: 201, body: { shipped: true, revision: bundle.revision, bundle: path.basename(file) } };
        });
      },
    },
  ];
}
