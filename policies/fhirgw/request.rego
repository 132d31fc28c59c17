# METADATA
# title: Request decision
# description: |
#   Decides, before anything is forwarded, whether a request may proceed, and with which
#   obligations (narrowing to the patient compartment). Entry point: fhirgw/request/decision.
#   Input and output are specified in schemas/policy-input.request.schema.json and
#   schemas/policy-decision.schema.json.
package fhirgw.request

import data.fhirgw.lib.scopes

default decision := {"allow": false, "reasons": ["default.deny"]}

decision := {"allow": true, "reasons": ["scope.ok"], "obligations": obligations} if {
	count(deny) == 0
	count(contexts) > 0
}

decision := {"allow": false, "reasons": sort(deny)} if count(deny) > 0

perm := scopes.perm_for[input.request.interaction]

contexts := scopes.granting_contexts(input.request.type, perm)

# A user or system scope grants the request as such; patient scopes grant it inside the
# compartment of the patient in context only.
broad if {
	some c in contexts
	c != "patient"
}

patient_only if {
	not broad
	"patient" in contexts
}

obligations := {"narrow": {"patient": input.principal.patient}} if {
	patient_only
	input.request.interaction in {"search-type", "search-compartment"}
} else := {}

deny contains "scope.missing" if {
	perm
	count(contexts) == 0
}

deny contains "interaction.unsupported" if not perm_or_special

perm_or_special if perm

perm_or_special if input.request.interaction in {"batch", "operation"}

deny contains "batch.unsupported" if input.request.interaction == "batch"

deny contains "operation.not-allowed" if {
	input.request.interaction == "operation"
	not data.fhirgw.config.allowed_operations[input.request.operation]
}

deny contains "role.read-only" if {
	perm in {"c", "u", "d"}
	some role in input.principal.roles
	role in data.fhirgw.config.read_only_roles
}

# ---- patient compartment (patient-context tokens) ----

# null is a value in Rego (and truthy), so presence is tested with is_string.
has_patient if is_string(input.principal.patient)

deny contains "launch.no-patient" if {
	patient_only
	not has_patient
}

deny contains "compartment.other-patient" if {
	patient_only
	input.request.type == "Patient"
	is_string(input.request.id)
	input.request.id != input.principal.patient
}

deny contains "compartment.other-patient" if {
	patient_only
	input.request.interaction == "search-compartment"
	not own_compartment
}

own_compartment if {
	input.request.compartment.type == "Patient"
	input.request.compartment.id == input.principal.patient
}

deny contains "compartment.cannot-narrow" if {
	patient_only
	input.request.interaction in {"search-system", "history-type", "history-system"}
}

# A patient may create resources in their own compartment only.
deny contains "compartment.other-patient" if {
	patient_only
	input.request.interaction == "create"
	input.facts.patient_compartment
	not only_own_patient(input.facts.patients)
}

only_own_patient(patients) if {
	count(patients) > 0
	every p in patients {
		p == input.principal.patient
	}
}

# Updates, patches and deletes by patient-context tokens would need the stored resource to be
# checked as well; until the gateway fetches it, they are refused.
deny contains "write.patient-context-unsupported" if {
	patient_only
	input.request.interaction in {"update", "patch", "delete"}
}
