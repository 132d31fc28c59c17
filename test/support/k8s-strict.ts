/**
 * Unknown fields in Kubernetes objects, the check `kubeconform -strict` makes: the JSON schemas that
 * kubernetes-models validates against allow additional properties, so a misspelt
 * `securityContex` would pass them and be dropped silently by the API server. kubernetes-models
 * also ships the same OpenAPI definitions as TypeScript interfaces; this walks each rendered object
 * along its model's interface with the TypeScript compiler's type checker and reports every key the
 * interface does not declare.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

interface K8sObjectLike {
  readonly apiVersion: string;
  readonly kind: string;
}

/** Module and interface of an object's model: `kubernetes-models/apps/v1/Deployment`, `IDeployment`. */
function modelOf(o: K8sObjectLike): { module: string; iface: string } {
  const [group, version] = o.apiVersion.includes('/') ? (o.apiVersion.split('/') as [string, string]) : [null, o.apiVersion];
  if (group === 'monitoring.coreos.com') return { module: `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}`, iface: `I${o.kind}` };
  return { module: `kubernetes-models/${group === null ? '' : `${group}/`}${version}/${o.kind}`, iface: `I${o.kind}` };
}

export interface StrictChecker {
  /** Paths of keys the object's model does not declare (empty: no unknown field). */
  unknownFields(o: K8sObjectLike & Record<string, unknown>): string[];
}

/** Compiles one program declaring the model of every kind in `objects`, then checks objects against it. */
export function strictChecker(objects: readonly K8sObjectLike[]): StrictChecker {
  const models = new Map<string, { module: string; iface: string }>();
  for (const o of objects) models.set(`${o.apiVersion} ${o.kind}`, modelOf(o));
  const dir = path.resolve('.tmp/k8s-strict');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'models.ts');
  const keys = [...models.keys()];
  writeFileSync(file, keys.map((k, i) => `import type { ${models.get(k)!.iface} as M${i} } from '${models.get(k)!.module}';\nexport type T${i} = M${i};\n`).join(''));
  const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] });
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diagnostics.length > 0) throw new Error(`k8s model types: ${ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n')}`);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!);
  const typeOf = new Map(keys.map((k, i) => [k, checker.getDeclaredTypeOfSymbol(exported.find((s) => s.name === `T${i}`)!)]));

  function walk(value: unknown, type: ts.Type, at: string, out: string[]): void {
    if (value === null || typeof value !== 'object') return;
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (type.isUnion()) {
      // `T | undefined`, or a choice such as IntOrString: walk the object-shaped members.
      const objectTypes = type.types.filter((t) => t.flags & ts.TypeFlags.Object);
      if (objectTypes.length === 1) walk(value, objectTypes[0]!, at, out);
      return;
    }
    if (Array.isArray(value)) {
      const element = checker.isArrayType(type) ? checker.getTypeArguments(type as ts.TypeReference)[0] : undefined;
      if (element) value.forEach((v, i) => walk(v, element, `${at}[${i}]`, out));
      return;
    }
    const index = checker.getIndexTypeOfType(type, ts.IndexKind.String);
    if (index) {
      // A map (labels, annotations, data): any key is allowed, values are checked.
      for (const [k, v] of Object.entries(value)) walk(v, index, `${at}.${k}`, out);
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      const prop = type.getProperty(k);
      if (prop === undefined) {
        out.push(`${at}.${k}`);
        continue;
      }
      walk(v, checker.getTypeOfSymbol(prop), `${at}.${k}`, out);
    }
  }

  return {
    unknownFields(o) {
      const type = typeOf.get(`${o.apiVersion} ${o.kind}`);
      if (type === undefined) throw new Error(`no model compiled for ${o.apiVersion} ${o.kind}`);
      const out: string[] = [];
      walk(o, type, `${o.kind}`, out);
      return out;
    },
  };
}
