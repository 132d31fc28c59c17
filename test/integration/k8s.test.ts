/**
 * The Kubernetes manifests, checked offline by the real tools: `kustomize build` (the pinned
 * version, go-installed like opa) for every overlay, as `kubectl apply -k` builds it (no flags), and
 * `helm template` (pinned, go-installed) of the chart in k8s/helm with its default and production
 * values, given the same gateway.yaml files. Every rendering is checked the same way: every object validated against the
 * Kubernetes and Prometheus Operator schemas (kubernetes-models) and checked for fields its model
 * does not declare (test/support/k8s-strict.ts), each ConfigMap's gateway.yaml
 * parsed by the gateway's own configuration schema, and the properties the operations issue asks
 * for: hardening, probes, the shutdown budget, Secrets by reference, NetworkPolicy peers, the HPA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { ensureHelm } from '../../scripts/lib/helm.mjs';
import { ensureKustomize } from '../../scripts/lib/kustomize.mjs';
import { NODE_TARGET_VERSION } from '../../scripts/lib/node-runtime.mjs';
import { OPA_VERSION } from '../../scripts/lib/opa.mjs';
import { buildConfig } from '../../src/config/load.js';
import { strictChecker } from '../support/k8s-strict.js';
import { shutdownBudgetMs } from '../../src/lifecycle.js';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

const OVERLAYS = ['dev', 'production'] as const;
/** Kustomize's overlays and the Helm chart's renderings, all checked alike. */
const RENDERINGS = [...OVERLAYS, 'helm', 'helm-production'] as const;
const CHART = 'k8s/helm/fhir-gateway';
/** The same gateway.yaml for each Helm rendering as for the Kustomize one it must match. */
const HELM_ARGS: Record<'helm' | 'helm-production', string[]> = {
  helm: ['--set-file', 'config=k8s/base/gateway.yaml'],
  'helm-production': ['-f', `${CHART}/values-production.yaml`, '--set-file', 'config=k8s/overlays/production/gateway.yaml'],
};
const rendered = new Map<string, K8sObject[]>();
let helm: string;

const parse = (out: string): K8sObject[] => parseAllDocuments(out).map((d) => d.toJSON() as K8sObject | null).filter((o): o is K8sObject => o !== null).map(withUnfoldedBinaryData);

beforeAll(() => {
  const kustomize = ensureKustomize({ log: () => {} });
  // `kubectl apply -k` builds with kustomize's default load restrictor: no flag here either.
  const build = (dir: string) => parse(execFileSync(kustomize, ['build', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }));
  for (const overlay of OVERLAYS) rendered.set(overlay, build(path.join('k8s/overlays', overlay)));
  rendered.set('base', build('k8s/base'));
  helm = ensureHelm({ log: () => {} });
  for (const [name, args] of Object.entries(HELM_ARGS)) {
    rendered.set(name, parse(execFileSync(helm, ['template', 'fhir-gateway', CHART, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })));
  }
}, 600000);

/**
 * kustomize writes a ConfigMap's binaryData as base64 folded over several lines; the API server's
 * base64 decoder skips the line breaks, the schema's `byte` format does not, so they are removed.
 */
function withUnfoldedBinaryData(o: K8sObject): K8sObject {
  if (o.kind !== 'ConfigMap' || !o['binaryData']) return o;
  return { ...o, binaryData: Object.fromEntries(Object.entries(o['binaryData'] as Record<string, string>).map(([k, v]) => [k, v.replace(/\s+/g, '')])) };
}

const objects = (overlay: string): K8sObject[] => rendered.get(overlay) ?? [];
const one = (overlay: string, kind: string, name?: string): K8sObject => {
  const found = objects(overlay).filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)));
  expect(found.map((o) => `${o.kind}/${o.metadata.name}`)).toHaveLength(1);
  return found[0]!;
};
const gatewayOf = (overlay: string): K8sObject => one(overlay, 'Deployment', 'fhir-gateway');
/** What selects the gateway pods: the name, and for the chart the release too (two releases in one namespace stay apart). */
const podSelectorOf = (rendering: string): Record<string, string> =>
  rendering.startsWith('helm') ? { 'app.kubernetes.io/name': 'fhir-gateway', 'app.kubernetes.io/instance': 'fhir-gateway' } : { 'app.kubernetes.io/name': 'fhir-gateway' };
const containerOf = (overlay: string) => gatewayOf(overlay)['spec'].template.spec.containers[0];
const configOf = (overlay: string) => {
  const cm = objects(overlay).find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('fhir-gateway-config'))!;
  // The Secret-sourced environment the container gets, with placeholder values.
  const env = Object.fromEntries((containerOf(overlay).env as Array<{ name: string }>).map((e) => [e.name, e.name === 'FHIRGW_REDIS_URL' ? 'redis://redis:6379' : 'x'.repeat(44)]));
  return buildConfig(parseAllDocuments(cm['data']['gateway.yaml'] as string)[0]!.toJSON(), { env, baseDir: '/etc/fhir-gateway' });
};

/** The kubernetes-models class for an object's apiVersion and kind. */
async function modelFor(apiVersion: string, kind: string): Promise<new (data: unknown) => { validate(): void }> {
  const module = apiVersion.startsWith('monitoring.coreos.com/') ? `@kubernetes-models/prometheus-operator/${apiVersion}` : `kubernetes-models/${apiVersion}`;
  const model = ((await import(module)) as Record<string, unknown>)[kind];
  if (typeof model !== 'function') throw new Error(`no schema for ${apiVersion} ${kind}`);
  return model as new (data: unknown) => { validate(): void };
}

describe.each(RENDERINGS)('the %s rendering', (overlay) => {
  test('it renders, and every object is valid against its schema', async () => {
    expect(objects(overlay).length).toBeGreaterThan(5);
    for (const o of objects(overlay)) {
      const Model = await modelFor(o.apiVersion, o.kind);
      expect(() => new Model(o).validate()).not.toThrow();
    }
    // The check is real: a wrong type is refused.
    const Deployment = await modelFor('apps/v1', 'Deployment');
    const broken = structuredClone(gatewayOf(overlay));
    broken['spec'].template.spec.containers[0].securityContext.runAsNonRoot = 'yes';
    expect(() => new Deployment(broken).validate()).toThrow(/runAsNonRoot/);
  });

  test('no object has a field its Kubernetes model does not declare (as kubeconform -strict)', () => {
    const checker = strictChecker(objects(overlay));
    for (const o of objects(overlay)) expect({ object: `${o.kind}/${o.metadata.name}`, unknown: checker.unknownFields(o) }).toEqual({ object: `${o.kind}/${o.metadata.name}`, unknown: [] });
    // The check is real: a misspelt field, deep in the pod template or in a monitoring object, is reported.
    const broken = structuredClone(gatewayOf(overlay));
    broken['spec'].template.spec.containers[0].securityContex = broken['spec'].template.spec.containers[0].securityContext;
    expect(checker.unknownFields(broken)).toEqual(['Deployment.spec.template.spec.containers[0].securityContex']);
    const hpa = structuredClone(one(overlay, 'HorizontalPodAutoscaler'));
    hpa['spec'].minReplica = 2;
    expect(checker.unknownFields(hpa)).toEqual(['HorizontalPodAutoscaler.spec.minReplica']);
    if (overlay === 'production') {
      const rule = structuredClone(one(overlay, 'PrometheusRule'));
      rule['spec'].groups[0].rules[0].expresion = 'up';
      expect(checker.unknownFields(rule)).toEqual(['PrometheusRule.spec.groups[0].rules[0].expresion']);
    }
  }, 60000);

  test('the gateway.yaml in its ConfigMap is a valid gateway configuration, wired to the pod', () => {
    const config = configOf(overlay);
    const container = containerOf(overlay);
    const mounts = container.volumeMounts as Array<{ name: string; mountPath: string }>;
    const mounted = (file: string): boolean => mounts.some((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`));
    expect(container.args).toEqual(['serve', '--config', '/etc/fhir-gateway/gateway.yaml']);
    expect(mounted('/etc/fhir-gateway/gateway.yaml')).toBe(true);
    expect(mounted(config.audit.spool!.dir!)).toBe(true);
    if (config.policy.bundle && !config.policy.bundle.includes('policies/dist')) expect(mounted(config.policy.bundle)).toBe(true);
    for (const key of config.policy.signing?.keys ?? []) expect(mounted(key.publicKeyFile)).toBe(true);
    expect(container.ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: config.listen.port }));
    // Every environment variable the configuration names for a secret is set from a Secret.
    const envNames = (container.env as Array<{ name: string }>).map((e) => e.name);
    const named = [config.policy.service?.tokenEnv, ...config.audit.sinks.map((s) => ('authorizationEnv' in s ? s.authorizationEnv : undefined))].filter((n): n is string => n !== undefined);
    for (const n of named) expect(envNames).toContain(n);
    expect(config.redis?.url).toBe('redis://redis:6379');
  });

  test('the pod is hardened: non-root, read-only root filesystem, no capabilities, seccomp, requests and limits', () => {
    const pod = gatewayOf(overlay)['spec'].template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c.resources[kind][r]).toBeDefined();
    }
    // A read-only root needs a writable /tmp and spool.
    const volumes = (pod.volumes as Array<{ name: string }>).map((v) => v.name);
    expect(volumes).toEqual(expect.arrayContaining(['tmp', 'audit-spool', 'config']));
    expect(new Set(volumes).size).toBe(volumes.length);
  });

  test('probes follow /healthz and /readyz, and the termination grace period covers preStop and the whole shutdown', () => {
    const pod = gatewayOf(overlay)['spec'].template.spec;
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const preStop = c.lifecycle.preStop.sleep.seconds as number;
    expect(preStop).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStop * 1000 + shutdownBudgetMs(configOf(overlay)));
  });

  test('secrets are references only: no Secret objects, no literal secret values', () => {
    expect(objects(overlay).filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const e of containerOf(overlay).env as Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } }>) {
      if (e.value !== undefined) expect(e.name).toBe('NODE_OPTIONS');
      else expect(e.valueFrom?.secretKeyRef?.name).toBe('fhir-gateway-secrets');
    }
  });

  test('the NetworkPolicy admits only the ingress controller and Prometheus, and lets out only DNS, Redis, upstream, IdP and audit', () => {
    const np = one(overlay, 'NetworkPolicy', 'fhir-gateway')['spec'];
    expect(np.podSelector.matchLabels).toEqual(podSelectorOf(overlay));
    expect(np.policyTypes).toEqual(['Ingress', 'Egress']);
    const peers = (rules: Array<{ from?: unknown[]; to?: unknown[] }>) => rules.flatMap((r) => (r.from ?? r.to ?? []) as Array<{ namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> }; ipBlock?: unknown }>);
    expect(peers(np.ingress).map((p) => [p.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'], p.podSelector?.matchLabels['app.kubernetes.io/name']])).toEqual([
      ['ingress-nginx', 'ingress-nginx'],
      ['monitoring', 'prometheus'],
    ]);
    // Kustomize's labels must not have leaked into other applications' selectors (they would then select only our own pods).
    for (const p of [...peers(np.ingress), ...peers(np.egress)]) {
      expect(Object.keys(p.podSelector?.matchLabels ?? {})).not.toContain('app.kubernetes.io/part-of');
      expect(Object.keys(p.namespaceSelector?.matchLabels ?? {})).not.toContain('app.kubernetes.io/part-of');
    }
    // Every rule names its peers and ports: nothing is open to everything.
    for (const r of [...np.ingress, ...np.egress]) {
      expect((r.from ?? r.to ?? []).length).toBeGreaterThan(0);
      expect(r.ports.length).toBeGreaterThan(0);
    }
    const dns = np.egress.find((r: { ports: Array<{ port: number }> }) => r.ports.some((p) => p.port === 53));
    expect(dns.to[0].podSelector.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
    expect(np.egress.some((r: { ports: Array<{ port: number }> }) => r.ports.some((p) => p.port === 6379))).toBe(true);
  });

  test('Service, PodDisruptionBudget and HPA point at the gateway pods', () => {
    const podLabels = gatewayOf(overlay)['spec'].template.metadata.labels;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    expect(selects(one(overlay, 'Service', 'fhir-gateway')['spec'].selector)).toBe(true);
    expect(selects(one(overlay, 'PodDisruptionBudget', 'fhir-gateway')['spec'].selector.matchLabels)).toBe(true);
    const hpa = one(overlay, 'HorizontalPodAutoscaler', 'fhir-gateway')['spec'];
    expect(hpa.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'fhir-gateway' });
    expect(hpa.metrics).toContainEqual(expect.objectContaining({ type: 'Resource', resource: expect.objectContaining({ name: 'cpu' }) }));
    // The Deployment's own selector was not widened by kustomize's (or the chart's) common labels.
    expect(gatewayOf(overlay)['spec'].selector.matchLabels).toEqual(podSelectorOf(overlay));
  });
});

/**
 * What an object must be the same in both renderings: everything but metadata (Helm's labels,
 * Kustomize's namespace and hashed ConfigMap names), the pod template's labels and annotations (the
 * chart's config checksum), and the chart's release label in selectors; lists keyed by name
 * (env, volumes, mounts) compared in name order, as the API server treats them.
 */
function comparable(o: K8sObject): unknown {
  const { apiVersion, kind, metadata: _metadata, ...rest } = o;
  const walk = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) {
      const items = v.map((x) => walk(x));
      const named = items.every((x) => typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string');
      return named && ['env', 'volumes', 'volumeMounts'].includes(key ?? '') ? [...items].sort((a, b) => String((a as { name: string }).name).localeCompare((b as { name: string }).name)) : items;
    }
    if (typeof v !== 'object' || v === null) return key === 'name' && typeof v === 'string' ? v.replace(/^(fhir-gateway-(?:config|policy))-[a-z0-9]{10}$/, '$1') : v;
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== 'app.kubernetes.io/instance')
        .map(([k, x]) => [k, k === 'template' && typeof x === 'object' && x !== null ? { ...(walk(x, k) as object), metadata: null } : walk(x, k)]),
    );
  };
  return { apiVersion, kind, ...(walk(rest) as object) };
}

describe('the Helm chart', () => {
  const KINDS = ['ServiceAccount', 'ConfigMap', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'Ingress'];
  // The monitoring objects (ServiceMonitor, PrometheusRule, the dashboard's ConfigMap): the chart renders them
  // from the component's own files when monitoring.enabled (compared in prometheus.test.ts).
  const shared = (rendering: string) => objects(rendering).filter((o) => KINDS.includes(o.kind) && o.metadata.name !== 'fhir-gateway-dashboard');

  test.each([
    ['default values', 'helm', 'base'],
    ['production values', 'helm-production', 'production'],
  ])('with its %s and the same gateway.yaml renders the objects Kustomize renders (%s, %s)', (_name, chart, kustomize) => {
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`;
    expect(shared(chart).map(key).sort()).toEqual(shared(kustomize).map(key).sort());
    for (const o of shared(kustomize)) {
      const twin = shared(chart).find((c) => key(c) === key(o))!;
      expect({ object: key(o), ...(comparable(twin) as object) }).toEqual({ object: key(o), ...(comparable(o) as object) });
    }
  });

  test('passes helm lint --strict, and refuses to render without a configuration', () => {
    execFileSync(helm, ['lint', '--strict', CHART, ...HELM_ARGS.helm], { encoding: 'utf8' });
    expect(() => execFileSync(helm, ['template', 'fhir-gateway', CHART], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/config is required/);
  });
});

describe('the example Ingress', () => {
  // The gateway's own endpoints outside the FHIR base (src/app.ts): never exposed.
  const INTERNAL = ['/metrics', '/healthz', '/readyz', '/admin/revocations', '/', '/fhirx', '/fhir-admin'];
  /** Kubernetes `Prefix` matching: element-wise on `/`-separated segments. */
  const prefixMatches = (prefix: string, p: string) => {
    const a = prefix.split('/').filter(Boolean);
    const b = p.split('/').filter(Boolean);
    return a.every((s, i) => b[i] === s);
  };

  test.each(['production', 'helm-production'])('in %s routes the publicBaseUrl host and path to the gateway, and nothing else', (rendering) => {
    const ingress = one(rendering, 'Ingress', 'fhir-gateway')['spec'];
    const base = new URL(configOf(rendering).publicBaseUrl);
    expect(ingress.rules).toHaveLength(1);
    expect(ingress.rules[0].host).toBe(base.hostname);
    expect(ingress.tls).toEqual([{ hosts: [base.hostname], secretName: 'fhir-gateway-tls' }]);
    const paths = ingress.rules[0].http.paths as Array<{ path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } }>;
    expect(paths.map((p) => [p.path, p.pathType])).toEqual([[base.pathname, 'Prefix']]);
    const service = one(rendering, 'Service', 'fhir-gateway');
    expect(paths[0]!.backend.service).toEqual({ name: service.metadata.name, port: { name: 'http' } });
    expect(service['spec'].ports.map((p: { name: string }) => p.name)).toContain('http');
    for (const p of [base.pathname, `${base.pathname}/Patient/p1`, `${base.pathname}/.well-known/smart-configuration`]) expect([p, prefixMatches(paths[0]!.path, p)]).toEqual([p, true]);
    for (const p of INTERNAL) expect([p, paths.some((r) => prefixMatches(r.path, p))]).toEqual([p, false]);
  });

  test('the chart refuses an Ingress for a publicBaseUrl without a path (it would expose /metrics and /admin)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-helm-'));
    try {
      const config = path.join(dir, 'gateway.yaml');
      writeFileSync(config, readFileSync('k8s/base/gateway.yaml', 'utf8').replace('https://fhir.hospital.example/fhir', 'https://fhir.hospital.example'));
      expect(() => execFileSync(helm, ['template', 'fhir-gateway', CHART, '--set', 'ingress.enabled=true', '--set-file', `config=${config}`], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/publicBaseUrl needs a path/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('overlay specifics', () => {
  test('dev brings its own Redis and delivers the compiled policy bundle by ConfigMap', () => {
    one('dev', 'Deployment', 'redis');
    one('dev', 'Service', 'redis');
    const bundle = one('dev', 'ConfigMap', 'fhir-gateway-policy');
    expect(Buffer.from(bundle['binaryData']['bundle.tar.gz'] as string, 'base64').equals(readFileSync('policies/dist/bundle.tar.gz'))).toBe(true);
    expect(configOf('dev').policy.bundle).toBe('/etc/fhir-gateway-policy/bundle.tar.gz');
  });

  test('production renders every piece: Deployment, Service, HPA on CPU and request rate, PDB, NetworkPolicy, ConfigMap, ServiceMonitor, PrometheusRule, dashboard', () => {
    const kinds = new Set(objects('production').map((o) => o.kind));
    for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'ConfigMap', 'ServiceMonitor', 'PrometheusRule']) expect(kinds).toContain(kind);
    const hpa = one('production', 'HorizontalPodAutoscaler', 'fhir-gateway')['spec'];
    expect(hpa.metrics).toContainEqual({ type: 'Pods', pods: { metric: { name: 'fhirgw_http_requests_per_second' }, target: { type: 'AverageValue', averageValue: '400' } } });
    const monitor = one('production', 'ServiceMonitor', 'fhir-gateway')['spec'];
    const service = one('production', 'Service', 'fhir-gateway');
    expect(Object.entries(monitor.selector.matchLabels as Record<string, string>).every(([k, v]) => service.metadata.labels?.[k] === v)).toBe(true);
    expect(service['spec'].ports.map((p: { name: string }) => p.name)).toContain(monitor.endpoints[0].port);
    expect(one('production', 'ConfigMap', 'fhir-gateway-dashboard').metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(configOf('production').policy.service?.url).toMatch(/^https:/);
    expect(configOf('production').redis?.sentinel?.nodes).toEqual(['redis-sentinel.redis.svc.cluster.local:26379']);
  });

  test('production hardens the zone spread in place (no second constraint appended)', () => {
    const spread = gatewayOf('production')['spec'].template.spec.topologySpreadConstraints;
    expect(spread.map((s: { topologyKey: string; whenUnsatisfiable: string }) => [s.topologyKey, s.whenUnsatisfiable])).toEqual([
      ['topology.kubernetes.io/zone', 'DoNotSchedule'],
      ['kubernetes.io/hostname', 'ScheduleAnyway'],
    ]);
    expect(gatewayOf('production')['spec'].replicas).toBe(3);
  });
});

describe('the Dockerfile', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/gim)].map((m) => ({ image: m[1]!, name: m[2] }));

  test('compiles the policies with the pinned opa in a build stage and runs as non-root on a small image without dev dependencies', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toContain(`ARG OPA_VERSION=${OPA_VERSION}`);
    expect(dockerfile).toMatch(/node scripts\/policies\.mjs build/);
    // What ships is what npm packs, installed without dev dependencies (test/integration/production-tree.test.ts runs these steps).
    expect(dockerfile).toMatch(/npm pack --ignore-scripts/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const runtime = stages.at(-1)!;
    expect(runtime.image).toMatch(/^gcr\.io\/distroless\/nodejs24-debian12:nonroot$/);
    const runtimePart = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtimePart).toMatch(/^USER 65532:65532$/m);
    expect(runtimePart).not.toMatch(/COPY --from=build \/src\/(src|test|scripts) /);
    expect([...runtimePart.matchAll(/^COPY (.*)$/gm)].map((m) => m[1])).toEqual(['--from=build /app ./']);
  });

  test('compiles the TypeScript once, before the policy build (which compiles only when dist/ is missing)', () => {
    const runs = dockerfile.split('\n').filter((l) => /^(RUN|\s)/.test(l)).join('\n');
    expect(runs.match(/\btsc\b/g)).toHaveLength(1);
    expect(runs.indexOf('npx tsc')).toBeLessThan(runs.indexOf('node scripts/policies.mjs build'));
    expect(dockerfile).not.toMatch(/npm run build|npm (install|ci)(?![^\n]*--ignore-scripts)/);
  });

  test('labels the image with the OCI annotations: title, version from package.json, revision, source, licence, base', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string; license: string };
    const runtimePart = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    const labels = Object.fromEntries([...runtimePart.matchAll(/(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    expect(labels).toMatchObject({
      'org.opencontainers.image.title': pkg.name,
      'org.opencontainers.image.version': '${VERSION}',
      'org.opencontainers.image.revision': '${REVISION}',
      'org.opencontainers.image.source': '${SOURCE_URL}',
      'org.opencontainers.image.licenses': pkg.license,
      'org.opencontainers.image.base.name': stages.at(-1)!.image,
    });
    expect(runtimePart).toContain(`ARG VERSION=${pkg.version}`);
  });

  test('builds and runs on the Node major CI tests as the target, one that package.json supports', () => {
    const major = NODE_TARGET_VERSION.split('.')[0]!;
    expect(stages.find((s) => s.name === 'build')?.image).toBe(`node:${major}-bookworm-slim`);
    expect(stages.at(-1)!.image).toBe(`gcr.io/distroless/nodejs${major}-debian12:nonroot`);
    const engines = (JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines.split('||').map((r) => r.trim())).toContain(`>=${major}.0.0`);
    expect(readFileSync('.nvmrc', 'utf8').trim()).toBe(major);
  });

  test('its runtime user is the one the manifests run as', () => {
    for (const overlay of RENDERINGS) expect(gatewayOf(overlay)['spec'].template.spec.securityContext.runAsUser).toBe(65532);
  });
});
