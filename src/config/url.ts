/** The one definition of an http(s) URL in the configuration: absolute, no query, fragment or credentials, no trailing slash. */
import { z } from 'zod';

export const httpUrl = z
  .string()
  .refine((u) => {
    if (!URL.canParse(u)) return false;
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash && !url.username && !url.password;
  }, 'must be an absolute http(s) URL without query, fragment or credentials')
  .transform((u) => u.replace(/\/+$/, ''));
