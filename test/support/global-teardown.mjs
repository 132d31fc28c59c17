// Jest global teardown: removes the run's temporary root (see global-setup.mjs).
import { rmSync } from 'node:fs';

export default function globalTeardown() {
  const root = process.env.FHIRGW_TEST_TMP_ROOT;
  if (root) rmSync(root, { recursive: true, force: true });
}
