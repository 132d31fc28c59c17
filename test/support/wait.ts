/** Polling helpers for what a running gateway does in the background (reloads, metrics). */
import type { Stack } from './stack.js';

/** Probes until `ok` holds, or fails naming what it waited for and the last value seen. */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of the first /metrics line `pattern` matches (its first group), 0 when none does. */
export async function metric(stack: Stack, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${new URL(stack.base).origin}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}
