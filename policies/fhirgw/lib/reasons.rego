# METADATA
# title: Reason codes
# description: |
#   The reason codes the shipped policy gives, as constants: a misspelt name is a compile error
#   (opa check --strict), where a misspelt string would be a new code nobody documented.
#   Generated from src/policy/reasons.json by scripts/generate-reasons.mjs (npm run generate): edit the
#   catalogue, not this file.
package fhirgw.lib.reasons

assurance_auth_too_old := "assurance.auth-too-old"

assurance_level_insufficient := "assurance.level-insufficient"

break_glass := "break-glass"

break_glass_reason_missing := "break-glass.reason-missing"

compartment_cannot_narrow := "compartment.cannot-narrow"

compartment_other_patient := "compartment.other-patient"

consent_deny_actor := "consent.deny.actor"

consent_deny_base := "consent.deny.base"

consent_deny_class := "consent.deny.class"

consent_deny_code := "consent.deny.code"

consent_deny_label := "consent.deny.label"

consent_deny_period := "consent.deny.period"

consent_deny_provision := "consent.deny.provision"

consent_deny_purpose := "consent.deny.purpose"

consent_deny_research := "consent.deny.research"

consent_unavailable := "consent.unavailable"

default_deny := "default.deny"

history_not_permitted := "history.not-permitted"

interaction_unsupported := "interaction.unsupported"

label_sensitive := "label.sensitive"

launch_no_patient := "launch.no-patient"

operation_not_allowed := "operation.not-allowed"

protection_not_permitted := "protection.not-permitted"

purpose_missing := "purpose.missing"

redact_other_patients := "redact.other-patients"

redact_role := "redact.role"

role_none := "role.none"

role_type_not_permitted := "role.type-not-permitted"

scope_missing := "scope.missing"

scope_ok := "scope.ok"
