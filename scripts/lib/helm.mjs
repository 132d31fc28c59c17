// Finds the pinned `helm` (the chart in k8s/helm is rendered with `helm template` in the tests),
// installing it into .tools/bin with `go install` when needed (a few minutes, once).
import { spawnSync } from 'node:child_process';
import { ensureGoTool } from './go-tool.mjs';

export const HELM_VERSION = '4.3.2';

export function ensureHelm(options = {}) {
  return ensureGoTool(
    {
      name: 'helm',
      version: HELM_VERSION,
      module: `helm.sh/helm/v4/cmd/helm@v${HELM_VERSION}`,
      versionOf,
      download: `https://github.com/helm/helm/releases/tag/v${HELM_VERSION}`,
    },
    options,
  );
}

/**
 * A release binary reports its version (`v4.3.2+g...`); one built by `go install` reports only
 * `v4.3` (the version is set by release ldflags), so its module version is read from the binary.
 */
function versionOf(bin) {
  const reported = /^v?(\d+\.\d+\.\d+)/.exec((spawnSync(bin, ['version', '--short'], { encoding: 'utf8' }).stdout ?? '').trim())?.[1];
  if (reported) return reported;
  const built = spawnSync('go', ['version', '-m', bin], { encoding: 'utf8' });
  return /^\s+mod\s+helm\.sh\/helm\/v4\s+v(\d+\.\d+\.\d+)/m.exec(built.stdout ?? '')?.[1] ?? null;
}
