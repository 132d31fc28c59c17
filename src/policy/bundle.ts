/**
 * Reads an OPA bundle (`opa build -t wasm` output: a gzipped tar with /policy.wasm, /data.json,
 * /.manifest) into memory and checks it has what the gateway needs before anything uses it.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { ENTRYPOINTS } from './contract.js';

export interface PolicyBundle {
  readonly wasm: Uint8Array;
  readonly data: Record<string, unknown>;
  readonly revision: string;
  readonly entrypoints: readonly string[];
}

export class BundleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BundleError';
  }
}

const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export async function readBundleFile(file: string): Promise<PolicyBundle> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new BundleError(`cannot read policy bundle ${file}`, { cause: err });
  }
  return parseBundle(bytes);
}

export async function parseBundle(gzipped: Uint8Array): Promise<PolicyBundle> {
  let tarBytes: Buffer;
  try {
    tarBytes = gunzipSync(gzipped, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    throw new BundleError('policy bundle is not a gzip file', { cause: err });
  }
  const files = await untar(tarBytes);
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
    data: data as Record<string, unknown>,
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
