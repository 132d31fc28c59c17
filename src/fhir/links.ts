/**
 * Every URL the gateway hands back is built from publicBaseUrl only (never from `Host`,
 * `X-Forwarded-*` or `Forwarded`), and no upstream address ever escapes.
 */
export interface LinkRewriter {
  /** The public form of a URL under the upstream (or already public) base; null for anything else. */
  toPublic(url: string): string | null;
  /** Bases under which a reference counts as local: the upstream's and the public one. */
  readonly bases: readonly string[];
  readonly publicBase: string;
}

export function createLinkRewriter(upstreamBase: string, publicBase: string): LinkRewriter {
  const strip = (b: string): string => b.replace(/\/+$/, '');
  const upstream = strip(upstreamBase);
  const pub = strip(publicBase);
  return {
    bases: [upstream, pub],
    publicBase: pub,
    toPublic(url) {
      for (const base of [upstream, pub]) {
        if (url === base) return pub;
        if (url.startsWith(`${base}/`) || url.startsWith(`${base}?`)) return pub + url.slice(base.length);
      }
      // A relative URL from the upstream is relative to its base.
      if (url.startsWith('?')) return pub + url;
      if (/^[A-Z][A-Za-z]+(\/|\?|$)/.test(url)) return `${pub}/${url}`;
      return null;
    },
  };
}
