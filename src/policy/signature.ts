/**
 * OPA signed bundles (`opa build -b --signing-key ...`): `/.signatures.json` holds one JWT whose
 * payload lists every file of the bundle with its hash. A bundle is used only when the JWT verifies
 * with a configured key, the listed files are exactly the bundle's files, every hash matches, and
 * the scope (when configured) is the expected one. JSON files are hashed over their canonical form
 * (keys sorted, compact, HTML characters escaped, as Go's encoding/json writes it), others as bytes.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { BundleError } from './bundle-error.js';

export interface VerificationKey {
  readonly id: string;
  readonly algorithm: 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';
  /** PEM-encoded public key. */
  readonly publicKey: string;
}

export interface VerificationOptions {
  readonly keys: readonly VerificationKey[];
  /** When set, the signature's `scope` must equal it. */
  readonly scope?: string | undefined;
}

const SIGNATURES = '.signatures.json';
const HASHES: Readonly<Record<string, string>> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512', MD5: 'md5', 'SHA-1': 'sha1' };

/** Throws a BundleError unless the bundle's files are exactly those its signature vouches for. */
export async function verifyBundleSignature(files: ReadonlyMap<string, Uint8Array>, options: VerificationOptions): Promise<void> {
  const raw = files.get(`/${SIGNATURES}`);
  if (!raw) throw new BundleError('the policy bundle is not signed (no /.signatures.json)');
  let jwt: string;
  try {
    const doc = JSON.parse(Buffer.from(raw).toString('utf8')) as { signatures?: unknown };
    if (!Array.isArray(doc.signatures) || doc.signatures.length !== 1 || typeof doc.signatures[0] !== 'string') throw new Error('one signature expected');
    jwt = doc.signatures[0];
  } catch (err) {
    throw new BundleError('the bundle signature file is malformed', { cause: err });
  }

  const payload = await verifiedPayload(jwt, options.keys);
  if (options.scope !== undefined && payload['scope'] !== options.scope) throw new BundleError('the bundle signature is for another scope');

  const listed = payload['files'];
  if (!Array.isArray(listed)) throw new BundleError('the bundle signature lists no files');
  const expected = new Map<string, { hash: string; algorithm: string }>();
  for (const entry of listed as Array<{ name?: unknown; hash?: unknown; algorithm?: unknown }>) {
    if (typeof entry.name !== 'string' || typeof entry.hash !== 'string' || typeof entry.algorithm !== 'string' || expected.has(entry.name)) {
      throw new BundleError('the bundle signature lists a file twice or malformed');
    }
    expected.set(entry.name.replace(/^\//, ''), { hash: entry.hash.toLowerCase(), algorithm: entry.algorithm });
  }
  const present = [...files.keys()].map((n) => n.replace(/^\//, '')).filter((n) => n !== SIGNATURES);
  if (present.length !== expected.size || present.some((n) => !expected.has(n))) {
    throw new BundleError('the bundle holds files its signature does not list, or lacks some it lists');
  }
  for (const name of present) {
    const { hash, algorithm } = expected.get(name) as { hash: string; algorithm: string };
    const nodeAlgorithm = HASHES[algorithm];
    if (nodeAlgorithm === undefined || nodeAlgorithm === 'md5' || nodeAlgorithm === 'sha1') throw new BundleError(`the bundle signature uses a hash the gateway does not accept (${algorithm})`);
    const bytes = files.get(`/${name}`) as Uint8Array;
    if (createHash(nodeAlgorithm).update(hashedForm(name, bytes)).digest('hex') !== hash) {
      throw new BundleError(`the bundle file ${name} does not match its signature`);
    }
  }
}

async function verifiedPayload(jwt: string, keys: readonly VerificationKey[]): Promise<Record<string, unknown>> {
  let header: { kid?: string; alg?: string };
  let claimedKeyId: unknown;
  try {
    header = decodeProtectedHeader(jwt) as { kid?: string; alg?: string };
    claimedKeyId = (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { keyid?: unknown }).keyid;
  } catch (err) {
    throw new BundleError('the bundle signature is not a JWT', { cause: err });
  }
  const keyId = typeof claimedKeyId === 'string' ? claimedKeyId : header.kid;
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new BundleError('the bundle is signed with a key the gateway does not trust');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(key.publicKey);
  } catch (err) {
    throw new BundleError(`the verification key ${key.id} is not a valid public key`, { cause: err });
  }
  try {
    const { payload } = await compactVerify(jwt, publicKey, { algorithms: [key.algorithm] });
    return JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new BundleError('the bundle signature does not verify', { cause: err });
  }
}

function hashedForm(name: string, bytes: Uint8Array): Uint8Array {
  if (!/\.json$/.test(name) && name !== '.manifest') return bytes;
  try {
    return Buffer.from(canonicalJson(JSON.parse(Buffer.from(bytes).toString('utf8'))), 'utf8');
  } catch {
    return bytes;
  }
}

/** JSON as Go's encoding/json writes a map: keys sorted, no spaces, `<`, `>`, `&` escaped. */
export function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return JSON.stringify(sorted(value))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
