/**
 * Reads an OPA bundle (`opa build -t wasm` output: a gzipped tar with /policy.wasm, /data.json,
 * /.manifest) into memory and checks it has what the gateway needs before anything uses it.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { BundleError } from './bundle-error.js';
import { ENTRYPOINTS } from './contract.js';
import { verifyBundleSignature, type VerificationOptions } from './signature.js';

export { BundleError };

export interface PolicyBundle {
  readonly wasm: Uint8Array;
  readonly data: Record<string, unknown>;
  readonly revision: string;
  readonly entrypoints: readonly string[];
}

const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export interface BundleOptions {
  /** When set, the bundle must be signed by one of these keys (OPA's `.signatures.json`). */
  readonly verification?: VerificationOptions | undefined;
  /** Deployment data merged over the bundle's data.json (objects merged, everything else replaced). */
  readonly data?: Record<string, unknown> | undefined;
}

export async function readBundleFile(file: string, options: BundleOptions = {}): Promise<PolicyBundle> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new BundleError(`cannot read policy bundle ${file}`, { cause: err });
  }
  return parseBundle(bytes, options);
}

export async function parseBundle(gzipped: Uint8Array, options: BundleOptions = {}): Promise<PolicyBundle> {
  let tarBytes: Buffer;
  try {
    tarBytes = gunzipSync(gzipped, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    throw new BundleError('policy bundle is not a gzip file', { cause: err });
  }
  const files = await untar(tarBytes);
  if (options.verification) await verifyBundleSignature(files, options.verification);
  const wasm = files.get('/policy.wasm');
  const manifestBytes = files.get('/.manifest');
  if (!wasm) throw new BundleError('policy bundle has no /policy.wasm (build it with `opa build -t wasm`)');
  if (!manifestBytes) throw new BundleError('policy bundle has no /.manifest');
  const manifest = parseJson(manifestBytes, '/.manifest') as { revision?: unknown; wasm?: Array<{ entrypoint?: unknown }> };
  const entrypoints = (manifest.wasm ?? []).map((w) => w.entrypoint).filter((e): e is string => typeof e === 'string');
  for (const required of Object.values(ENTRYPOINTS)) {
    if (!entrypoints.includes(required)) throw new BundleError(`policy bundle lacks the entrypoint ${required}`);
  }
  const dataBytes = files.get('/data.json');
  const data = dataBytes ? parseJson(dataBytes, '/data.json') : {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new BundleError('/data.json must hold an object');
  return {
    wasm,
    data: options.data ? (mergeData(data as Record<string, unknown>, options.data) as Record<string, unknown>) : (data as Record<string, unknown>),
    revision: typeof manifest.revision === 'string' ? manifest.revision : '',
    entrypoints,
  };
}

function parseJson(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new BundleError(`${name} in the policy bundle is not valid JSON`, { cause: err });
  }
}

function untar(bytes: Buffer): Promise<Map<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Uint8Array>();
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files.set(header.name.startsWith('/') ? header.name : `/${header.name}`, Buffer.concat(chunks));
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', () => resolve(files));
    extract.on('error', (err: unknown) => reject(new BundleError('policy bundle is not a valid tar archive', { cause: err })));
    extract.end(bytes);
  });
}

/** Deployment data over bundle data: objects are merged key by key, anything else is replaced. */
export function mergeData(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? mergeData(out[k], v) : v;
  return out;
}
