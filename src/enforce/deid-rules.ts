/**
 * The value rules of de-identification (45 CFR 164.514(b)(2)(i)(B) and (C)): the 3-digit ZIP, the
 * year of a date, and ages over 89. Pure functions on one value, used by the type-directed walk
 * (deidentify.ts) and tested on their own.
 */

/** Three-digit ZIP areas of 20,000 people or fewer (HHS guidance, 2000 Census): released as `000`. */
export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set(['036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893']);

/**
 * The 3-digit ZIP of a US postal code (`62704`, `62704-1234`, ` 627 `), `000` for a restricted
 * area; null when the value is not a US ZIP (it is then not released at all).
 */
export function zip3(postalCode: string): string | null {
  const m = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(postalCode) ?? /^\s*(\d{3})\s*$/.exec(postalCode);
  if (!m) return null;
  const area = m[1] as string;
  return RESTRICTED_ZIP3.has(area) ? '000' : area;
}

/** A FHIR date, dateTime or instant, any precision, any zone: the year is its first four digits. */
const DATE_SHAPED = /^(\d{4})(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?)?)?)?$/;

/**
 * The year of a date, dateTime or instant (`2026`, `2026-03`, `2026-03-14`,
 * `2026-03-14T10:00:00+05:00`), as written: the year of the local date the value states, not of
 * its UTC instant, so a value keeps the year its author recorded. Null when it is not date-shaped.
 */
export function yearOf(value: string): string | null {
  const m = DATE_SHAPED.exec(value);
  return m ? (m[1] as string) : null;
}

/**
 * A birth year releases the age: a person born `year` is 90 or older in `now`'s year at the latest
 * by their birthday, so from a difference of 90 on the year itself is withheld.
 */
export function birthYearImplies90(year: string, now: Date): boolean {
  const y = Number(year);
  return Number.isInteger(y) && now.getUTCFullYear() - y >= 90;
}

/** UCUM (and common written) units of an age, with their length in years. */
const AGE_UNITS: ReadonlyMap<string, number> = new Map([
  ['a', 1],
  ['ANN', 1],
  ['yr', 1],
  ['yrs', 1],
  ['year', 1],
  ['years', 1],
  ['mo', 1 / 12],
  ['month', 1 / 12],
  ['months', 1 / 12],
  ['wk', 7 / 365.25],
  ['week', 7 / 365.25],
  ['weeks', 7 / 365.25],
  ['d', 1 / 365.25],
  ['day', 1 / 365.25],
  ['days', 1 / 365.25],
]);

/** Years per unit of a quantity (`code` first, then `unit`), or null when it is not a time span. */
export function yearsPerUnit(code: unknown, unit: unknown): number | null {
  for (const u of [code, unit]) {
    if (typeof u !== 'string') continue;
    const per = AGE_UNITS.get(u) ?? AGE_UNITS.get(u.toLowerCase());
    if (per !== undefined) return per;
  }
  return null;
}

/**
 * Ages over 89 are aggregated into one category, 90 or over (164.514(b)(2)(i)(C)): a quantity of
 * 90 years or more (in years, months, weeks or days; an Age in any unit) becomes `>= 90 a`.
 * Returns whether the quantity changed.
 */
export function aggregateAge(q: Record<string, unknown>, comparatorAllowed: boolean, isAge = false): boolean {
  const value = q['value'];
  // No unit of an age is longer than a year: under 90 of anything is under 90 years.
  if (typeof value !== 'number' || value < 90) return false;
  // An Age whose unit is missing or unknown is read as years: the reading that withholds more.
  const per = yearsPerUnit(q['code'], q['unit']) ?? (isAge ? 1 : null);
  if (per === null || value * per < 90) return false;
  q['value'] = 90;
  q['unit'] = 'a';
  if (typeof q['system'] === 'string' || 'code' in q) {
    q['system'] = 'http://unitsofmeasure.org';
    q['code'] = 'a';
  }
  if (comparatorAllowed) q['comparator'] = '>=';
  else delete q['comparator'];
  return true;
}
