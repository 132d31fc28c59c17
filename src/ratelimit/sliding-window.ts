/**
 * The sliding-window counter behind the rate limits (the approximation Cloudflare and nginx use):
 * two fixed windows, the current one counted exactly and the previous one weighted by how much of
 * it still overlaps the sliding window. Constant memory per key, accurate within a few percent,
 * no burst of twice the limit at window edges. Pure: the Redis store runs the same arithmetic in
 * Lua (src/redis/rate-limit-store.ts), the memory store calls this.
 */

export interface WindowState {
  /** Start of the current fixed window (ms, a multiple of the window length). */
  readonly start: number;
  readonly current: number;
  readonly previous: number;
}

export interface SlideResult {
  readonly allowed: boolean;
  /** When refused: how long until one more request fits (ms, at least 1). */
  readonly retryAfterMs: number;
  readonly state: WindowState;
}

export function slide(state: WindowState | null, now: number, limit: number, windowMs: number): SlideResult {
  const start = now - (now % windowMs);
  let current = 0;
  let previous = 0;
  if (state && state.start === start) {
    current = state.current;
    previous = state.previous;
  } else if (state && state.start === start - windowMs) {
    previous = state.current;
  }
  const elapsed = now - start;
  const estimate = (previous * (windowMs - elapsed)) / windowMs + current;
  if (estimate + 1 <= limit) return { allowed: true, retryAfterMs: 0, state: { start, current: current + 1, previous } };
  return { allowed: false, retryAfterMs: retryAfter(current, previous, elapsed, limit, windowMs), state: { start, current, previous } };
}

function retryAfter(current: number, previous: number, elapsed: number, limit: number, windowMs: number): number {
  const toNext = windowMs - elapsed;
  // In the next window this window's count becomes "previous" and must fade below limit - 1.
  let wait = toNext + (current === 0 ? 0 : Math.max(0, windowMs * (1 - (limit - 1) / current)));
  if (current + 1 <= limit && previous > 0) {
    // Or, still in this window, the previous window's share fades enough: previous * (1 - e / W) <= limit - 1 - current.
    const inWindow = windowMs * (1 - (limit - 1 - current) / previous) - elapsed;
    if (inWindow < toNext) wait = Math.min(wait, inWindow);
  }
  // The epsilon absorbs floating-point noise: an exact 1234 ms must not round up to 1235.
  return Math.max(1, Math.ceil(wait - 1e-6));
}
