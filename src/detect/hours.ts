/**
 * Working hours per role, in the role's own time zone. An access is after hours when its local time
 * falls outside the windows of every role the user holds that has hours configured; a user none of
 * whose roles has hours is not judged. A window may wrap midnight (a night shift 19:00-07:00).
 */
export interface WorkingHours {
  /** `HH:MM`, local time. */
  readonly start: string;
  readonly end: string;
  /** ISO weekdays (1 Monday ... 7 Sunday) the window applies on, by the day it starts; default every day. */
  readonly days?: readonly number[];
  /** IANA time zone, e.g. Europe/Copenhagen. */
  readonly timeZone: string;
}

const WEEKDAYS: Readonly<Record<string, number>> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local weekday (1-7) and minute of the day of `iso` in `timeZone`. */
export function localTime(iso: string, timeZone: string): { weekday: number; minute: number } {
  let f = formatters.get(timeZone);
  if (!f) formatters.set(timeZone, (f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })));
  const parts = f.formatToParts(new Date(iso));
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return { weekday: WEEKDAYS[get('weekday')] ?? 0, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

export const minuteOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
};

/** Whether `iso` is inside the window. */
export function withinHours(iso: string, hours: WorkingHours): boolean {
  const { weekday, minute } = localTime(iso, hours.timeZone);
  const start = minuteOf(hours.start);
  const end = minuteOf(hours.end);
  const onDay = (d: number): boolean => hours.days === undefined || hours.days.includes(d);
  if (start <= end) return onDay(weekday) && minute >= start && minute < end;
  // Wraps midnight: the evening part belongs to today's shift, the morning part to yesterday's.
  if (minute >= start) return onDay(weekday);
  if (minute < end) return onDay(weekday === 1 ? 7 : weekday - 1);
  return false;
}

/** The configured hours of the user's roles; an empty list means the user is not judged. */
export function hoursOf(roles: readonly string[], byRole: Readonly<Record<string, WorkingHours>>): WorkingHours[] {
  return roles.flatMap((r) => (Object.hasOwn(byRole, r) ? [byRole[r] as WorkingHours] : []));
}
