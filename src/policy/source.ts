/**
 * Where the active policy comes from, and how it changes without a restart:
 *
 * - a bundle file, watched (polling its modification time and size, which also sees Kubernetes
 *   ConfigMap symlink swaps), or
 * - an OPA bundle service (`GET <url>` with `If-None-Match`, polled; 304 keeps the current one).
 *
 * Every candidate is parsed, signature-checked (when keys are configured), merged with the
 * deployment data and compiled before it replaces anything; on any failure the last good bundle
 * stays active and the failure is reported. A request keeps the evaluator it started with, so a
 * reload never changes a decision mid-request. Until a first bundle loads the source is not ready.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { parseBundle } from './bundle.js';
import { PolicyEngine, type PolicyEvaluator } from './engine.js';
import type { VerificationOptions } from './signature.js';

export type BundleLocation = { readonly kind: 'file'; readonly path: string; readonly watchIntervalMs: number } | { readonly kind: 'service'; readonly url: string; readonly pollSeconds: number; readonly token: string | null };

export interface PolicySourceOptions {
  readonly location: BundleLocation;
  readonly verification?: VerificationOptions | undefined;
  /** A JSON file of deployment data merged over the bundle's; re-read with each load. */
  readonly dataFile?: string | undefined;
  readonly maxMemoryPages: number;
  readonly onLoaded: (revision: string) => void;
  readonly onFailed: (err: unknown) => void;
  readonly timeoutMs?: number;
}

export interface PolicySource {
  current(): PolicyEngine | null;
  /** Loads the first bundle; rejects when it cannot (the caller decides whether that is fatal). */
  start(): Promise<void>;
  /** One reload attempt now (used by the watcher and the poller; also by tests). */
  reload(): Promise<boolean>;
  close(): void;
}

export function createPolicySource(options: PolicySourceOptions): PolicySource {
  let engine: PolicyEngine | null = null;
  let loadedDigest: string | null = null;
  let etag: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let inflight: Promise<boolean> | null = null;
  let lastSeen = '';

  const fetchBytes = async (): Promise<Uint8Array | null> => {
    const location = options.location;
    if (location.kind === 'file') return readFile(location.path);
    const res = await fetch(location.url, {
      headers: { accept: 'application/gzip, application/octet-stream', ...(etag ? { 'if-none-match': etag } : {}), ...(location.token ? { authorization: `Bearer ${location.token}` } : {}) },
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    if (res.status === 304) return null;
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`the bundle service answered ${res.status}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    etag = res.headers.get('etag');
    return bytes;
  };

  const load = async (): Promise<boolean> => {
    const bytes = await fetchBytes();
    if (bytes === null) return false;
    const data = options.dataFile ? (JSON.parse(await readFile(options.dataFile, 'utf8')) as Record<string, unknown>) : undefined;
    const digest = createHash('sha256').update(bytes).update(JSON.stringify(data ?? null)).digest('hex');
    if (digest === loadedDigest) return false;
    const bundle = await parseBundle(bytes, { verification: options.verification, data });
    const next = await PolicyEngine.load(bundle, { maxMemoryPages: options.maxMemoryPages });
    engine = next; // requests already running keep the engine they took
    loadedDigest = digest;
    options.onLoaded(next.revision);
    return true;
  };

  const reload = (): Promise<boolean> => {
    inflight ??= load()
      .catch((err: unknown) => {
        options.onFailed(err);
        return false;
      })
      .finally(() => {
        inflight = null;
      });
    return inflight;
  };

  /** A file counts as changed when its (or the data file's) size or modification time does. */
  const fingerprint = async (): Promise<string> => {
    const paths = [(options.location as { path: string }).path, ...(options.dataFile ? [options.dataFile] : [])];
    const stats = await Promise.all(paths.map((p) => stat(p).then((s) => `${s.size}:${s.mtimeMs}`, () => 'missing')));
    return stats.join('|');
  };

  const schedule = (): void => {
    if (closed) return;
    const location = options.location;
    const delay = location.kind === 'file' ? location.watchIntervalMs : location.pollSeconds * 1000;
    timer = setTimeout(() => {
      const tick = async (): Promise<void> => {
        if (location.kind === 'file') {
          const now = await fingerprint();
          if (now !== lastSeen) {
            lastSeen = now;
            await reload();
          }
        } else {
          await reload();
        }
      };
      tick().finally(schedule);
    }, delay);
    timer.unref();
  };

  return {
    current: () => engine,
    async start() {
      if (options.location.kind === 'file') lastSeen = await fingerprint();
      try {
        await load();
      } finally {
        schedule();
      }
    },
    reload,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export type { PolicyEvaluator };
