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
    throw new FetchJsonError(isTimeout(err) ? 'timeout' : 'network');
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
