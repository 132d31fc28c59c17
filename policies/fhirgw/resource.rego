# METADATA
# title: Resource decision
# description: |
#   Decides, for one resource coming back from the FHIR server, whether it is released and what is
#   redacted from it. Entry point: fhirgw/resource/decision (the gateway calls the batched
#   fhirgw/resources/decisions, which applies this rule to every resource of a response).
#
#   Layers, each able to withhold: SMART scopes; the patient compartment (patient-context tokens);
#   the principal's roles and purpose of use; sensitivity labels; the patients' Consents. The
#   patient sees all of their own data. Break-the-glass lifts label and consent restrictions for
#   roles allowed to use it, and marks the decision.
package fhirgw.resource

import data.fhirgw.lib.consent
import data.fhirgw.lib.labels
import data.fhirgw.lib.roles
import data.fhirgw.lib.scopes

default decision := {"allow": false, "reasons": ["default.deny"]}

decision := {"allow": true, "reasons": allow_reasons, "obligations": obligations} if allow

decision := {"allow": false, "reasons": sort(deny), "obligations": withheld_obligations} if {
	not allow
	count(deny) > 0
}

type := input.resource.resourceType

allow if type in data.fhirgw.config.always_visible_types

allow if {
	not type in data.fhirgw.config.always_visible_types
	count(contexts) > 0
	count(deny) == 0
}

contexts := scopes.resource_contexts(input.resource)

broad if {
	some c in contexts
	c != "patient"
}

patient_only if {
	not broad
	"patient" in contexts
}

# null is a value in Rego (and truthy), so presence is tested with is_string.
has_patient if is_string(input.principal.patient)

own_data if {
	patient_only
	has_patient
	input.principal.patient in input.facts.patients
}

deny contains "scope.missing" if count(contexts) == 0

# ---- patient compartment ----

deny contains "launch.no-patient" if {
	patient_only
	not has_patient
}

# Patient scopes: the patient's own compartment, and resources that are nobody's (a Practitioner,
# a Medication) when the scope covers their type.
deny contains "compartment.other-patient" if {
	patient_only
	has_patient
	input.facts.patient_data
	not input.principal.patient in input.facts.patients
}

# ---- roles and purpose of use (everyone but the patient in their own compartment) ----

subject_to_roles if not patient_only

deny contains "role.none" if {
	subject_to_roles
	count(roles.effective) == 0
}

deny contains "purpose.missing" if {
	subject_to_roles
	count(roles.effective) > 0
	count(roles.reading(type)) == 0
	count(roles.missing_purpose) > 0
}

deny contains "role.type-not-permitted" if {
	subject_to_roles
	count(roles.effective) > 0
	count(roles.missing_purpose) == 0
	count(roles.reading(type)) == 0
}

# ---- sensitive data and consent: the patient's own data is never withheld from them ----

sensitive := labels.of(input.resource)

restricted contains "label.sensitive" if {
	not own_data
	some label in sensitive
	not label in roles.labels
	not consent.explicitly_permitted(input.resource, input.facts)
}

restricted contains reason if {
	not own_data
	input.facts.patient_data
	some reason in consent.refusals(input.resource, input.facts)
}

break_glass if {
	not patient_only
	roles.break_glass
}

deny contains reason if {
	not break_glass
	some reason in restricted
}

# Tell the user why break-the-glass did not open the data: the stated reason was missing.
deny contains "break-glass.reason-missing" if {
	not patient_only
	roles.break_glass_reason_missing
	count(restricted) > 0
}

break_glass_used if {
	break_glass
	count(restricted) > 0
}

# ---- other patients named in the patient's own data ----

# A resource can be the patient's own and still name other patients: a Group of both, a
# Patient.link, a performer or focus. The patient sees it, but not who else it names: every
# reference to another patient (with its display) is removed before it is released.
other_patients contains p if {
	patient_only
	has_patient
	some p in object.get(input.facts, "referenced_patients", [])
	p != input.principal.patient
}

other_patient_redactions := [r |
	some p in other_patients
	r := {
		"path": concat("", ["descendants().where(reference.matches('(^|/)Patient/", replace(p, ".", "\\\\."), "(/_history/[^/]*)?$'))"]),
		"action": "remove",
	}
]

# ---- obligations ----

role_redactions := roles.redactions(type) if subject_to_roles

else := []

redactions := array.concat(role_redactions, other_patient_redactions)

redaction_part := {"redact": redactions} if count(redactions) > 0

else := {}

break_glass_part := {"audit": {"break_glass": true}} if break_glass_used

else := {}

obligations := object.union(redaction_part, break_glass_part)

extra_reasons contains "redact.role" if count(role_redactions) > 0

extra_reasons contains "redact.other-patients" if count(other_patient_redactions) > 0

extra_reasons contains "break-glass" if break_glass_used

allow_reasons := array.concat(["scope.ok"], sort([r | some r in extra_reasons]))

# A patient probing ids must not learn whether someone else's resource exists: a withheld resource
# is answered exactly like one that does not (data.fhirgw.config.conceal_withheld_from_patients).
withheld_obligations := {"conceal": true} if {
	not broad
	has_patient
	data.fhirgw.config.conceal_withheld_from_patients
} else := {}
