// Finds the pinned `kustomize`, installing it into .tools/bin with `go install` when needed.
// Pinned to 5.8.2: 5.8.3 needs Go 1.27.
import { spawnSync } from 'node:child_process';
import { ensureGoTool } from './go-tool.mjs';

export const KUSTOMIZE_VERSION = '5.8.2';

export function ensureKustomize(options = {}) {
  return ensureGoTool(
    {
      name: 'kustomize',
      version: KUSTOMIZE_VERSION,
      module: `sigs.k8s.io/kustomize/kustomize/v5@v${KUSTOMIZE_VERSION}`,
      versionOf: (bin) => /^v?(\d+\.\d+\.\d+)/.exec((spawnSync(bin, ['version'], { encoding: 'utf8' }).stdout ?? '').trim())?.[1] ?? null,
      download: `https://github.com/kubernetes-sigs/kustomize/releases/tag/kustomize%2Fv${KUSTOMIZE_VERSION}`,
    },
    options,
  );
}
