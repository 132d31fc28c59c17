/**
 * GET or POST for JSON from an authorization server (discovery, JWKS, introspection), on the
 * gateway's terms: a deadline for the whole exchange, no redirects (a redirect could lead the
 * gateway to keys an attacker controls), a bound on the body, 200 only. Failures carry a `kind`
 * and never the body: an IdP's error page can quote the token.
 */

export type FetchFailure = 'timeout' | 'network' | 'status' | 'too-large' | 'json';

export class FetchJsonError extends Error {
  constructor(
    readonly kind: FetchFailure,
    readonly status?: number,
    /** For `network`: the errno code of the cause (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED). */
    readonly code?: string,
  ) {
    super(`authorization server request failed: ${kind}${status === undefined ? '' : ` ${status}`}`);
    this.name = 'FetchJsonError';
  }
}

export interface FetchJsonOptions {
  readonly timeoutMs: number;
  readonly maxBytes?: number;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

const DEFAULT_MAX_BYTES = 512 * 1024;

export async function fetchJson(url: string, options: FetchJsonOptions): Promise<unknown> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let res: Response;
  try {
    res = await fetch(url, {
      method: options.method ?? 'GET',
      headers: { accept: 'application/json', ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    throw new FetchJsonError(isTimeout(err) ? 'timeout' : 'network', undefined, causeCodeOf(err));
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new FetchJsonError('status', res.status);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new FetchJsonError('too-large');
  }
  let text: string;
  try {
    text = await readBounded(res, maxBytes);
  } catch (err) {
    if (err instanceof FetchJsonError) throw err;
    throw new FetchJsonError(isTimeout(err) ? 'timeout' : 'network');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FetchJsonError('json');
  }
}

async function readBounded(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new FetchJsonError('too-large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

/**
 * Why a fetch from an authorization server failed, for logs: the failure kind, status or errno code
 * and the gateway's own static texts, never a body or an upstream message.
 */
export function fetchFailureText(err: unknown): string {
  if (err instanceof FetchJsonError) return err.message.replace('authorization server request failed: ', '') + (err.code ? ` (${err.code})` : '');
  if ((err as { code?: unknown } | null)?.code === 'ERR_JWKS_INVALID') return 'not a JSON Web Key Set';
  if (err instanceof Error && (err.name === 'JwksUnusableError' || err.message === 'issuer metadata has no usable jwks_uri' || err.message === 'issuer metadata is not a JSON object')) return err.message;
  return err instanceof Error ? err.name : 'error';
}

/** A URL without credentials, query or fragment (a JWKS or discovery URL may carry either). */
export function loggableUrl(url: string): string {
  if (!URL.canParse(url)) return '(not a URL)';
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** undici's fetch rejects with a TypeError whose `cause` carries the errno code. */
function causeCodeOf(err: unknown): string | undefined {
  const code = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : undefined;
}
