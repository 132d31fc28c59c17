/** Usage of `fhir-gateway policy`, apart from the commands so `--help` loads nothing else. */
export const POLICY_USAGE = `  fhir-gateway policy build [--dir policies] [--out policies/dist/bundle.tar.gz]
                                            compile a policy tree into a WebAssembly bundle (needs opa)
  fhir-gateway policy test [--dir policies] [--coverage 90]
                                            opa fmt (with the diff and the fixing command), opa check
                                            --strict, opa test -t wasm, coverage and uncovered lines
  fhir-gateway policy eval --input <request.json> [--bundle <file>] [--dir <sources>] [--data <file>]
                           [--explain full|notes] [--show-input] [--json]
                                            decide one request (and its answer): decision, reasons,
                                            obligations, and the resource as it would be released;
                                            --dir alone evaluates sources without a separate build;
                                            --explain traces it with opa eval --explain on the sources;
                                            --show-input prints the exact policy input documents
  fhir-gateway policy diff --against <candidate.tar.gz> --replay <audit.jsonl>... [--bundle <baseline>]
                            [--data <file>] [--json]
                                            replay recorded requests against a candidate bundle and list
                                            every decision that would change (exit 1 if any)`;
