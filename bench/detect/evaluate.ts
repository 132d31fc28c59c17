/**
 * Runs the detector over a generated workload and scores its cases against the ground truth: the
 * code path bench:detect measures and the test suite asserts on a smaller run.
 */
import type { CaseStore } from '../../src/cases/case.js';
import { createMemoryCaseStore } from '../../src/cases/memory-store.js';
import { createDetector } from '../../src/detect/detector.js';
import type { PatientFactsSource } from '../../src/detect/patient-facts.js';
import { createLinkedPatients } from '../../src/detect/staff-links.js';
import { createMemoryVolumeState, DEFAULT_VOLUME, type VolumeState } from '../../src/detect/volume.js';
import { HOURS, RESTRICTED_LABELS, score, type SignalScore, type Workload } from './workload.js';

export interface Evaluation {
  readonly scores: SignalScore[];
  readonly records: number;
  readonly cases: number;
  readonly seconds: number;
}

export interface EvaluationParts {
  readonly facts: PatientFactsSource;
  readonly cases?: CaseStore;
  readonly volumeState?: VolumeState;
}

export async function evaluate(workload: Workload, parts: EvaluationParts): Promise<Evaluation> {
  const cases = parts.cases ?? createMemoryCaseStore();
  const detector = createDetector(
    {
      facts: parts.facts,
      links: createLinkedPatients(workload.links, async (rp) => workload.relatedPersons.get(rp) ?? null),
      volumeState: parts.volumeState ?? createMemoryVolumeState(DEFAULT_VOLUME.windowHours),
      volume: DEFAULT_VOLUME,
      restrictedLabels: RESTRICTED_LABELS,
      restrictedPatients: workload.restrictedPatients,
      hours: HOURS,
    },
    cases,
  );
  const started = process.hrtime.bigint();
  for (const record of workload.records) await detector.process(record);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const all = await cases.list({});
  return { scores: score(all, workload.truth), records: workload.records.length, cases: all.length, seconds };
}

export function formatScores(e: Evaluation): string {
  const rows = e.scores.map((s) => `| ${s.signal} | ${s.truth} | ${s.flagged} | ${s.truePositives} | ${s.precision.toFixed(3)} | ${s.recall.toFixed(3)} |`);
  return ['| signal | truth | flagged | true positives | precision | recall |', '|---|---|---|---|---|---|', ...rows].join('\n');
}
