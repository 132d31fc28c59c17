#!/usr/bin/env node
// Installs the pinned tools the tests need (opa, kustomize) into .tools/bin when they are not on the machine.
import { ensureKustomize, KUSTOMIZE_VERSION } from './lib/kustomize.mjs';
import { ensureOpa, OPA_VERSION } from './lib/opa.mjs';

console.log(`opa ${OPA_VERSION}: ${ensureOpa()}`);
console.log(`kustomize ${KUSTOMIZE_VERSION}: ${ensureKustomize()}`);
