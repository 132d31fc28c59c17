#!/usr/bin/env node
// Installs the pinned tools the tests need (opa, kustomize, helm) into .tools/bin when they are not on the
// machine, and the target Node.js (24 LTS) into .tools/node24 for CI's second test run.
import { ensureHelm, HELM_VERSION } from './lib/helm.mjs';
import { ensureKustomize, KUSTOMIZE_VERSION } from './lib/kustomize.mjs';
import { ensureTargetNode, NODE_TARGET_VERSION } from './lib/node-runtime.mjs';
import { ensureOpa, OPA_VERSION } from './lib/opa.mjs';

console.log(`opa ${OPA_VERSION}: ${ensureOpa()}`);
console.log(`kustomize ${KUSTOMIZE_VERSION}: ${ensureKustomize()}`);
console.log(`helm ${HELM_VERSION}: ${ensureHelm()}`);
console.log(`node ${NODE_TARGET_VERSION}: ${ensureTargetNode()}`);
