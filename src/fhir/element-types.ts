/**
 * The R4 element tables (src/fhir/generated/r4-elements.ts) compiled once, at module load, into the
 * lookup a walk needs: for a structure (a resource, a data type or a backbone element) and a JSON
 * key, the element's type. A choice element (`value[x]`) is expanded into one key per type
 * (`valueQuantity`, `valueString` ...), so the walk reads the type off the key without parsing it.
 */
import { R4_ELEMENTS } from './generated/r4-elements.js';

export interface ElementType {
  /** The element's name in its structure, choice elements as `value[x]`. */
  readonly name: string;
  /** The FHIR type code, or the structure name of a backbone element (`Patient.contact`). */
  readonly type: string;
  readonly repeats: boolean;
  readonly required: boolean;
  /** An invariant of its structure tests whether it exists: removed, it is masked. */
  readonly tested: boolean;
  /** For a choice element: every type it allows (a de-identified value may change to one of them). */
  readonly choices: readonly string[] | null;
}

export interface Structure {
  readonly name: string;
  /** JSON key -> element. */
  readonly elements: ReadonlyMap<string, ElementType>;
  /** Elements masked when removed: required or tested by an invariant (choice elements once, by their `[x]` name). */
  readonly required: readonly ElementType[];
}

function compile(): ReadonlyMap<string, Structure> {
  const out = new Map<string, Structure>();
  for (const [name, specs] of Object.entries(R4_ELEMENTS)) {
    const elements = new Map<string, ElementType>();
    const required: ElementType[] = [];
    for (const [key, spec] of Object.entries(specs)) {
      const m = /^(\*?)(!?)(\??)(.*)$/.exec(spec) as RegExpExecArray;
      const types = (m[4] as string).split('|');
      const choice = key.endsWith('[x]');
      const base = { name: key, repeats: m[1] === '*', required: m[2] === '!', tested: m[3] === '?', choices: choice ? types : null };
      if (choice) {
        const stem = key.slice(0, -3);
        for (const t of types) elements.set(choiceKey(key, t), { ...base, type: t });
        if (base.required || base.tested) required.push({ ...base, type: types[0] as string });
      } else {
        const element = { ...base, type: types[0] as string };
        elements.set(key, element);
        if (element.required || element.tested) required.push(element);
      }
    }
    out.set(name, { name, elements, required });
  }
  return out;
}

export const STRUCTURES: ReadonlyMap<string, Structure> = compile();

/**
 * The JSON key of a choice element's value of one type: `value[x]`, `dateTime` -> `valueDateTime`.
 * A profiled Quantity is named by its base type (`dose[x]` SimpleQuantity -> `doseQuantity`).
 */
export function choiceKey(name: string, type: string): string {
  const base = type === 'SimpleQuantity' || type === 'MoneyQuantity' ? 'Quantity' : type;
  return `${name.slice(0, -3)}${base[0]?.toUpperCase() ?? ''}${base.slice(1)}`;
}
