/** The privacy office's lines of the CLI usage (kept apart so `--help` loads no database driver). */
export const PRIVACY_USAGE = `  fhir-gateway audit disclosures --patient <id> --from <date> --to <date> [--format json|csv|fhir|pdf] [--include-tpo]
                                            the accounting of disclosures of a patient (TPO left out unless --include-tpo)
  fhir-gateway audit breach-scope (--subject "<iss> <sub>" | --client <id> | --jti <jti> | --address <ip>)
                                  --from <date> --to <date> [--format json|csv] [--revoke --gateway <url>]
                                            every patient affected, with the chain of the records read checked
  fhir-gateway review list [--status <s>] [--kind <k>] [--patient <id>] [--limit <n>] | show <id>
                      | close <id> --status justified|unjustified --reviewer <name> --note <text>
      (all of them: --store <postgres://...> or --embedded <dir>; key: FHIRGW_AUDIT_HMAC_KEY or --key-file)`;
