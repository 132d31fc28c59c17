/**
 * `fhir-gateway audit verify` as an operator runs it (the compiled CLI), on a trail a real gateway
 * wrote, intact and after an edit, a deletion and a reordering.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { TEST_KEY, writeKeyFile } from '../../support/audit.js';
import { startStack, tokensFor } from '../../support/stack.js';

const CLI = path.resolve('dist/cli.js');
let dir: string;
let keyFile: string;
let lines: string[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-verify-'));
  keyFile = writeKeyFile(dir);
  const file = path.join(dir, 'trail.jsonl');
  const stack = await startStack({
    config: (d) => ({ ...d, audit: { sinks: [{ type: 'file', path: file }], hmacKeyFile: keyFile, checkpoint: { everyRecords: 4, everySeconds: 0 } } }),
  });
  const token = await tokensFor(stack.issuer).clinician();
  for (let i = 0; i < 10; i++) await (await stack.fetch(i % 3 === 0 ? 'Patient' : 'Patient/pat-alba', { token })).text();
  await stack.close();
  lines = readFileSync(file, 'utf8').trim().split('\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function verify(content: string[], ...args: string[]): { status: number | null; out: string } {
  const file = path.join(dir, `case-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, content.map((l) => `${l}\n`).join(''));
  const r = spawnSync('node', [CLI, 'audit', 'verify', file, ...args], { encoding: 'utf8', timeout: 20000, env: { ...process.env, FHIRGW_AUDIT_HMAC_KEY: '' } });
  return { status: r.status, out: (r.stdout + r.stderr).replaceAll(file, 'FILE') };
}

describe('fhir-gateway audit verify', () => {
  test('an intact trail (with its checkpoints) verifies: exit 0', () => {
    expect(lines.filter((l) => l.includes('"kind":"checkpoint"')).length).toBeGreaterThanOrEqual(2);
    const r = verify(lines, '--key-file', keyFile);
    expect(r.out).toContain('OK: the chain is intact');
    expect(r.out).toMatch(/seq 1\.\.\d+, \d+ record\(s\) after the last checkpoint/);
    expect(r.status).toBe(0);
  });

  test('the key can come from FHIRGW_AUDIT_HMAC_KEY', () => {
    const file = path.join(dir, 'env.jsonl');
    writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
    const r = spawnSync('node', [CLI, 'audit', 'verify', file], { encoding: 'utf8', env: { ...process.env, FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8') } });
    expect(r.status).toBe(0);
  });

  test('an edited record: exit 1, reported as edited at its line', () => {
    const edited = [...lines];
    edited[2] = edited[2]!.replace('"status":200', '"status":404');
    expect(edited[2]).not.toBe(lines[2]);
    const r = verify(edited, '--key-file', keyFile);
    expect(r.status).toBe(1);
    expect(r.out).toContain('BROKEN at FILE:3: edited');
  });

  test('a deleted record: exit 1, reported as missing with its sequence number', () => {
    const r = verify([...lines.slice(0, 4), ...lines.slice(5)], '--key-file', keyFile);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/BROKEN at FILE:5: missing \(instance [^,]+, seq 5\)/);
  });

  test('two records swapped: exit 1, reported as reordered', () => {
    const swapped = [...lines];
    [swapped[5], swapped[6]] = [swapped[6]!, swapped[5]!];
    const r = verify(swapped, '--key-file', keyFile);
    expect(r.status).toBe(1);
    expect(r.out).toContain('BROKEN at FILE:6: reordered');
  });

  test('the wrong key fails at the first record; no key at all cannot check a keyed trail (exit 2)', () => {
    const wrong = path.join(dir, 'wrong-key');
    writeFileSync(wrong, 'a-different-key-of-sufficient-length-123');
    expect(verify(lines, '--key-file', wrong)).toMatchObject({ status: 1, out: expect.stringContaining('BROKEN at FILE:1: edited') });
    expect(verify(lines)).toMatchObject({ status: 2, out: expect.stringContaining('give the audit HMAC key') });
  });
});
