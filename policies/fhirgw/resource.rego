# METADATA
# title: Resource decision
# description: |
#   Decides, for one resource coming back from the FHIR server, whether it is released and what is
#   redacted from it. Entry point: fhirgw/resource/decision (the gateway calls the batched
#   fhirgw/resources/decisions, which applies this rule to every resource of a response).
package fhirgw.resource

import data.fhirgw.lib.scopes

default decision := {"allow": false, "reasons": ["default.deny"]}

decision := {"allow": true, "reasons": allow_reasons, "obligations": obligations} if {
	allow
}

decision := {"allow": false, "reasons": sort(deny), "obligations": withheld_obligations} if {
	not allow
	count(deny) > 0
}

type := input.resource.resourceType

contexts := scopes.resource_contexts(input.resource)

broad if {
	some c in contexts
	c != "patient"
}

# null is a value in Rego (and truthy), so presence is tested with is_string.
has_patient if is_string(input.principal.patient)

in_own_compartment if input.principal.patient in input.facts.patients

allow if type in data.fhirgw.config.always_visible_types

allow if broad

# Patient scopes: the patient's own compartment, and resources that are nobody's (a Practitioner,
# a Medication) when the scope covers their type.
allow if {
	not broad
	"patient" in contexts
	has_patient
	patient_scope_covers
}

patient_scope_covers if not input.facts.patient_data

patient_scope_covers if in_own_compartment

deny contains "scope.missing" if count(contexts) == 0

deny contains "compartment.other-patient" if {
	not broad
	"patient" in contexts
	not patient_scope_covers
}

deny contains "launch.no-patient" if {
	not broad
	"patient" in contexts
	not has_patient
}

redactions := [r |
	some role in input.principal.roles
	some r in object.get(data.fhirgw.config.role_redactions, role, [])
]

obligations := {"redact": redactions} if count(redactions) > 0

else := {}

allow_reasons := ["scope.ok", "redact.role"] if count(redactions) > 0

else := ["scope.ok"]

# A patient probing ids must not learn whether someone else's resource exists: a withheld resource
# is answered exactly like one that does not (data.fhirgw.config.conceal_withheld_from_patients).
withheld_obligations := {"conceal": true} if {
	not broad
	has_patient
	data.fhirgw.config.conceal_withheld_from_patients
} else := {}
