export interface Needle {
  readonly name: string;
  readonly value: string;
}
export const TOKEN_PATTERNS: ReadonlyArray<{ readonly name: string; readonly pattern: RegExp }>;
export function seededNeedles(
  patients: ReadonlyArray<{ id: string; given: string; family: string; mrn: string; phone: string; birthDate: string }>,
  practitioner: { given: string; family: string },
): Needle[];
export function scanText(text: string, needles: readonly Needle[]): Array<{ line: number; what: string }>;
