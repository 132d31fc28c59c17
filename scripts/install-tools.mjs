#!/usr/bin/env node
// Installs the pinned tools the tests need (opa) into .tools/bin when they are not on the machine.
import { ensureOpa, OPA_VERSION } from './lib/opa.mjs';

console.log(`opa ${OPA_VERSION}: ${ensureOpa()}`);
