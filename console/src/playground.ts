/**
 * Policy playground: POST /api/playground/evaluate. Edit the case (token claims, the HTTP request,
 * optionally what the FHIR server answers), evaluate it with the active bundle, and see the
 * decision, reasons, obligations, the released resource against the input, the explanation (which
 * rule gave each reason, and which engine traced it) and the exact policy input.
 */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { createTwoFilesPatch } from 'diff';
import { post } from './api.js';

interface Decision {
  readonly allow: boolean;
  readonly reasons: readonly string[];
  readonly obligations: Record<string, unknown>;
}

interface Explanation {
  readonly engine: string;
  readonly entrypoint: string;
  readonly agrees: boolean;
  readonly reasons: readonly { readonly reason: string; readonly meaning: string | null; readonly rules: readonly { readonly rule: string; readonly location: string; readonly source: string }[] }[];
  readonly trace: string;
}

interface PlaygroundAnswer {
  readonly bundle: string;
  readonly result: {
    readonly revision: string;
    readonly request: Decision;
    readonly response: { readonly status: number; readonly resources: readonly { readonly ref: string; readonly decision: Decision }[]; readonly released: unknown } | null;
  };
  readonly inputs: readonly { readonly entrypoint: string; readonly input: unknown }[];
  readonly explanations: readonly Explanation[] | null;
  readonly explanationUnavailable?: string;
}

export const EXAMPLE_CASE = {
  claims: { sub: 'biller-1', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] },
  request: 'GET /Observation/o1',
  response: { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'HbA1c' }, subject: { reference: 'Patient/p1' } },
};

/** A case handed over by another page (e.g. a decision record): `#/playground?case=<base64url JSON>`. */
function initialCase(): string {
  const param = new URLSearchParams(location.hash.split('?')[1] ?? '').get('case');
  if (param) {
    try {
      return JSON.stringify(JSON.parse(atob(param.replace(/-/g, '+').replace(/_/g, '/'))), null, 2);
    } catch {
      // fall through to the example
    }
  }
  return JSON.stringify(EXAMPLE_CASE, null, 2);
}

export function Playground() {
  const [text, setText] = useState(initialCase());
  const [explain, setExplain] = useState<'full' | 'notes' | ''>('full');
  const [answer, setAnswer] = useState<PlaygroundAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      setError(`The case is not JSON: ${String(err)}`);
      return;
    }
    setBusy(true);
    try {
      setAnswer(await post<PlaygroundAnswer>('/playground/evaluate', { case: doc, ...(explain ? { explain } : {}) }));
    } catch (err) {
      setAnswer(null);
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  let inputResponse: unknown = null;
  try {
    inputResponse = (JSON.parse(text) as { response?: unknown }).response ?? null;
  } catch {
    inputResponse = null;
  }

  return h(
    'div',
    { class: 'playground' },
    h(
      'form',
      { onSubmit: run },
      h('label', { for: 'case' }, 'Case: token claims, request line, and optionally the FHIR server\'s answer (the policy eval document)'),
      h('textarea', { id: 'case', rows: 14, spellcheck: false, value: text, onInput: (e: Event) => setText((e.target as HTMLTextAreaElement).value) }),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'explain' }, 'Explanation '),
        h(
          'select',
          { id: 'explain', value: explain, onChange: (e: Event) => setExplain((e.target as HTMLSelectElement).value as 'full' | 'notes' | '') },
          h('option', { value: 'full' }, 'full trace'),
          h('option', { value: 'notes' }, 'notes only'),
          h('option', { value: '' }, 'none'),
        ),
        h('button', { type: 'submit', disabled: busy }, busy ? 'Evaluating…' : 'Evaluate with the active bundle'),
      ),
    ),
    error ? h('p', { role: 'alert', class: 'error' }, error) : null,
    answer ? result(answer, inputResponse) : null,
  );
}

function decisionView(label: string, d: Decision) {
  return h(
    'div',
    { class: `decision ${d.allow ? 'allow' : 'deny'}` },
    h('h3', {}, `${label}: ${d.allow ? 'allowed' : 'denied'}`),
    h('p', {}, 'Reasons: ', d.reasons.map((r) => h('code', { class: 'reason' }, r))),
    Object.keys(d.obligations).length > 0 ? h('pre', { 'aria-label': `${label} obligations` }, JSON.stringify(d.obligations, null, 2)) : h('p', {}, 'No obligations.'),
  );
}

function result(a: PlaygroundAnswer, inputResponse: unknown) {
  const response = a.result.response;
  const released = response?.released ?? null;
  // A refused request forwards nothing: there is no answer to compare.
  const diff =
    inputResponse !== null && response !== null
      ? createTwoFilesPatch('answer from the FHIR server', 'released to the client', `${JSON.stringify(inputResponse, null, 2)}\n`, released === null ? '' : `${JSON.stringify(released, null, 2)}\n`, undefined, undefined, { context: 3 })
          .split('\n')
          .filter((l) => !l.startsWith('====='))
      : null;
  return h(
    'div',
    { class: 'result', 'aria-live': 'polite' },
    h('h2', {}, `Decision (bundle ${a.bundle}, revision ${a.result.revision})`),
    decisionView('Request', a.result.request),
    response
      ? h('section', {}, h('h3', {}, `Answer: HTTP ${response.status}`), response.resources.map((r) => decisionView(r.ref, r.decision)))
      : !a.result.request.allow
        ? h('p', {}, 'The request is refused: nothing is forwarded, so no answer is released.')
        : null,
    diff
      ? h(
          'section',
          { 'aria-labelledby': 'diff' },
          h('h2', { id: 'diff' }, 'Released resource against the input'),
          h('pre', { class: 'diff' }, diff.map((l) => h('span', { class: l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : '' }, `${l}\n`))),
        )
      : null,
    h(
      'section',
      { 'aria-labelledby': 'explanation' },
      h('h2', { id: 'explanation' }, 'Explanation'),
      a.explanationUnavailable ? h('p', {}, `Not available: ${a.explanationUnavailable}.`) : null,
      (a.explanations ?? []).map((e) =>
        h(
          'div',
          { class: 'explanation' },
          h('h3', {}, e.entrypoint),
          h('p', { class: 'engine' }, h('strong', {}, 'Engine: '), e.engine),
          h('p', {}, e.agrees ? 'The interpreter reached the same decision as the WebAssembly engine.' : 'Warning: the interpreter decided differently from the WebAssembly engine.'),
          h(
            'ul',
            {},
            e.reasons.map((r) =>
              h(
                'li',
                {},
                h('code', {}, r.reason),
                r.meaning ? ` — ${r.meaning}` : '',
                r.rules.length > 0 ? h('ul', {}, r.rules.map((rule) => h('li', {}, h('code', {}, rule.location), ` ${rule.rule}: `, h('code', {}, rule.source)))) : h('p', {}, 'Computed; no single rule names it.'),
              ),
            ),
          ),
          h('details', {}, h('summary', {}, 'Trace'), h('pre', { class: 'trace' }, e.trace)),
        ),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'input' },
      h('h2', { id: 'input' }, 'Exact policy input'),
      a.inputs.map((i) =>
        h(
          'div',
          {},
          h('p', {}, h('code', {}, `opa eval -b bundle.tar.gz -i input.json data.${i.entrypoint.replaceAll('/', '.')}`)),
          h('button', { type: 'button', onClick: () => void navigator.clipboard?.writeText(JSON.stringify(i.input, null, 2)) }, `Copy the input of ${i.entrypoint}`),
          h('pre', { class: 'input', tabIndex: 0, 'aria-label': `input of ${i.entrypoint}` }, JSON.stringify(i.input, null, 2)),
        ),
      ),
    ),
  );
}
