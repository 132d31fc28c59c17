/**
 * Volume spikes: distinct patients a user reached in one hour, against that user's own baseline.
 *
 * The baseline is the user's hourly counts over a sliding window (the hours they were active in,
 * the last `windowHours`). The spike test is a robust z-score, (x - median) / (MAD / 0.6745)
 * (Iglewicz and Hoaglin's modified z-score), so an earlier spike does not lift the baseline the way
 * a mean and a standard deviation would. It is taken on Anscombe-transformed counts,
 * 2 sqrt(x + 3/8): counts of distinct patients behave like Poisson counts, whose spread grows with
 * their mean, and whose MAD is often 0 or 1 however noisy the user; after the transform the spread
 * is about 1 whatever the rate, which is also the floor of the scale (`madFloor`). A count above
 * `ceiling` is a spike whatever the baseline; with fewer than `minHistoryHours` of history only the
 * ceiling applies.
 *
 * The counts live in a VolumeState shared by every detector replica (Redis), so a user's accesses
 * spread over several consumers are counted together.
 */
export interface VolumeOptions {
  readonly windowHours: number;
  readonly minHistoryHours: number;
  readonly zThreshold: number;
  readonly madFloor: number;
  /** A spike also needs this many patients above the median (small counts are noise). */
  readonly minExcess: number;
  readonly ceiling: number;
}

export const DEFAULT_VOLUME: VolumeOptions = { windowHours: 14 * 24, minHistoryHours: 8, zThreshold: 3, madFloor: 1, minExcess: 5, ceiling: 100 };

export interface VolumeState {
  /** Adds `patient` to the user's hour; returns that hour's distinct count. */
  add(user: string, hour: number, patient: string): Promise<number>;
  /** The user's counts of the active hours in [fromHour, toHour). */
  history(user: string, fromHour: number, toHour: number): Promise<number[]>;
}

export type VolumeVerdict = { readonly spike: false } | { readonly spike: true; readonly count: number; readonly median: number | null; readonly z: number | null; readonly why: 'ceiling' | 'baseline' };

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Whether `count` distinct patients in one hour is a spike for a user with this `history`. */
export function judgeVolume(count: number, history: readonly number[], options: VolumeOptions): VolumeVerdict {
  if (count > options.ceiling) return { spike: true, count, median: history.length > 0 ? median(history) : null, z: null, why: 'ceiling' };
  if (history.length < options.minHistoryHours) return { spike: false };
  const m = median(history);
  const transformed = history.map(anscombe);
  const tm = median(transformed);
  const scale = Math.max(options.madFloor, median(transformed.map((x) => Math.abs(x - tm))) / 0.6745);
  const z = (anscombe(count) - tm) / scale;
  if (z > options.zThreshold && count - m >= options.minExcess) return { spike: true, count, median: m, z, why: 'baseline' };
  return { spike: false };
}

/** Anscombe's variance-stabilising transform of a Poisson count. */
export const anscombe = (x: number): number => 2 * Math.sqrt(x + 3 / 8);

export const hourOf = (iso: string): number => Math.floor(Date.parse(iso) / 3_600_000);

/** One process's counts (tests, the bench, a single detector). Hours older than the window are dropped. */
export function createMemoryVolumeState(windowHours: number): VolumeState {
  const users = new Map<string, Map<number, Set<string>>>();
  return {
    async add(user, hour, patient) {
      let hours = users.get(user);
      if (!hours) users.set(user, (hours = new Map()));
      let set = hours.get(hour);
      if (!set) {
        hours.set(hour, (set = new Set()));
        for (const h of hours.keys()) if (h < hour - windowHours - 1) hours.delete(h);
      }
      set.add(patient);
      return set.size;
    },
    async history(user, fromHour, toHour) {
      const out: number[] = [];
      for (const [h, set] of users.get(user) ?? []) if (h >= fromHour && h < toHour) out.push(set.size);
      return out;
    },
  };
}
