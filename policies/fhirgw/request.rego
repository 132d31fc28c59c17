# METADATA
# title: Request decision
# description: |
#   Decides, before anything is forwarded, whether a request may proceed, and with which
#   obligations (narrowing to the patient compartment, whether counts may be released).
#   Entry point: fhirgw/request/decision. Input and output are specified in
#   schemas/policy-input.request.schema.json and schemas/policy-decision.schema.json.
# schemas:
#   - input: schema["policy-input.request.schema"]
package fhirgw.request

import data.fhirgw.lib.assurance
import data.fhirgw.lib.labels
import data.fhirgw.lib.reasons
import data.fhirgw.lib.roles
import data.fhirgw.lib.scopes

default decision := {"allow": false, "reasons": ["default.deny"]}

decision := {"allow": true, "reasons": [reasons.scope_ok], "obligations": obligations} if {
	count(deny) == 0
	count(contexts) > 0
}

decision := {"allow": false, "reasons": sort(deny)} if {
	count(deny) > 0
	not step_up_only
}

# Refused only for want of a stronger or fresher login: the gateway answers with an RFC 9470
# step-up challenge (401) instead of 403.
decision := {"allow": false, "reasons": sort(deny), "obligations": {"step_up": step_up}} if {
	count(deny) > 0
	step_up_only
}

step_up_only if {
	every r in deny {
		startswith(r, "assurance.")
	}
}

interaction := input.request.interaction

# ---- which scopes grant the request ----

# The SMART permission the request needs.
perm := scopes.perm_for[interaction]

perm := operation.perm if interaction == "operation"

granting := scopes.granting_scopes(input.request.type, perm) if {
	not interaction in {"search-continue", "batch", "operation"}
}

# A page of an earlier search names no type; each resource on it is decided on its own type.
granting := scopes.scopes_with_perm("s") if interaction == "search-continue"

# A batch or transaction as a whole: every entry is then decided as if sent alone.
granting := {s | some s in input.principal.scopes} if interaction == "batch"

granting := operation_scopes if interaction == "operation"

contexts := {s.context | some s in granting}

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

# null is a value in Rego (and truthy), so presence is tested with is_string.
has_patient if is_string(input.principal.patient)

# ---- operations (data.fhirgw.config.operations) ----

operation := data.fhirgw.config.operations[input.request.operation]

operation_level := "system" if is_null(input.request.type)

operation_level := "type" if {
	is_string(input.request.type)
	is_null(input.request.id)
}

operation_level := "instance" if {
	is_string(input.request.type)
	is_string(input.request.id)
}

# Operations reach across types, so they need a wildcard scope in an allowed context.
operation_scopes := {s |
	some s in input.principal.scopes
	s.type == "*"
	contains(s.perms, operation.perm)
	s.context in operation.contexts
}

deny contains reasons.operation_not_allowed if {
	interaction == "operation"
	not operation
}

deny contains reasons.operation_not_allowed if {
	interaction == "operation"
	not operation_allowed_here
}

operation_allowed_here if {
	some level in operation.levels
	level == operation_level
	operation_type_ok
}

operation_type_ok if operation_level == "system"

operation_type_ok if input.request.type in operation.types

deny contains reasons.scope_missing if {
	interaction != "operation"
	perm
	count(contexts) == 0
}

deny contains reasons.scope_missing if {
	operation
	count(contexts) == 0
}

deny contains reasons.interaction_unsupported if {
	not perm
	interaction != "batch"
}

# ---- roles and purpose of use (everyone but a patient-context token) ----

# Requests on a type are checked against the roles before forwarding; the resources that come back
# are checked again one by one (system-level searches and pages only there).
typed_request if {
	is_string(input.request.type)
	not interaction in {"batch", "capabilities"}
}

permitting := roles.reading(input.request.type) if perm in {"r", "s"}

permitting := roles.writing(input.request.type) if perm in {"c", "u", "d"}

deny contains reasons.role_none if {
	not patient_only
	count(contexts) > 0
	count(roles.effective) == 0
}

deny contains reasons.purpose_missing if {
	not patient_only
	typed_request
	count(roles.effective) > 0
	count(permitting) == 0
	count(roles.missing_purpose) > 0
}

deny contains reasons.role_type_not_permitted if {
	not patient_only
	typed_request
	count(roles.effective) > 0
	count(roles.missing_purpose) == 0
	count(permitting) == 0
}

# ---- patient compartment (patient-context tokens) ----

deny contains reasons.launch_no_patient if {
	patient_only
	not has_patient
}

deny contains reasons.compartment_other_patient if {
	patient_only
	input.request.type == "Patient"
	is_string(input.request.id)
	input.request.id != input.principal.patient
}

deny contains reasons.compartment_other_patient if {
	patient_only
	interaction == "search-compartment"
	not own_compartment
}

own_compartment if {
	input.request.compartment.type == "Patient"
	input.request.compartment.id == input.principal.patient
}

deny contains reasons.compartment_cannot_narrow if {
	patient_only
	interaction in {"search-system", "history-type", "history-system"}
}

# A write may leave the resource only in the patient's own compartment...
deny contains reasons.compartment_other_patient if {
	patient_only
	interaction in {"create", "update", "patch"}
	input.facts.patient_data
	not only_own_patient(input.facts.patients)
}

# ...and may only touch a resource that is in it now.
deny contains reasons.compartment_other_patient if {
	patient_only
	interaction in {"update", "patch", "delete"}
	input.current_facts.patient_data
	not only_own_patient(input.current_facts.patients)
}

only_own_patient(patients) if {
	count(patients) > 0
	every p in patients {
		p == input.principal.patient
	}
}

# ---- break-the-glass asked for without the reason the deployment requires ----

# Refused on the request itself, whatever data it would reach: the answer must not depend on whether
# there is restricted data behind it.
deny contains reasons.break_glass_reason_missing if {
	not patient_only
	count(contexts) > 0
	roles.break_glass_reason_missing
}

# ---- assurance of the login (data.fhirgw.assurance) ----

# Break-the-glass needs a multi-factor login within max_age: decided on the token, like the reason.
break_glass_lacking if {
	not patient_only
	count(contexts) > 0
	roles.invokes_break_glass
	count(assurance.break_glass_gaps) > 0
}

deny contains gap if {
	break_glass_lacking
	some gap in assurance.break_glass_gaps
}

# A search the client itself scopes to sensitive data (`_security=HIV`, a `code` that implies a
# label) that the principal's roles would open after a multi-factor login: asking for that login
# reveals nothing the request did not say. Searches that merely find sensitive data, and reads by
# id, are not challenged: those resources are withheld, like missing ones.
sensitive_lacking if {
	interaction in {"search-type", "search-system", "search-compartment"}
	not patient_only
	not assurance.sensitive_labels_open
	some label in requested_labels
	label in roles.labels
}

deny contains reasons.assurance_level_insufficient if sensitive_lacking

requested_labels contains code if {
	some p in input.request.params
	p.name == "_security"
	is_null(p.modifier)
	some v in p.values
	code := token_code(v)
	code in data.fhirgw.sensitivity.labels
}

requested_labels contains label if {
	some p in input.request.params
	p.name == "code"
	is_null(p.modifier)
	some v in p.values
	label := data.fhirgw.sensitivity.codes[v]
}

token_code(v) := code if {
	parts := split(v, "|")
	count(parts) == 2
	code := parts[1]
} else := v

step_up := object.union(break_glass_step_up, sensitive_step_up)

break_glass_step_up := assurance.break_glass_step_up if break_glass_lacking

else := {}

sensitive_step_up := assurance.sensitive_step_up if sensitive_lacking

else := {}

# ---- protections are not ordinary data ----

# A write that lowers the protection of data: removes a sensitivity or confidentiality label (set in
# meta.security or implied by a code, data.fhirgw.sensitivity), or creates, changes or deletes a
# Consent. A write scope is not enough: it needs a role that manages protections
# (data.fhirgw.roles.*.manage_protections), or, for a patient, their own Consents.
protection_change if {
	interaction in {"update", "patch"}
	input.current
	input.resource
	some l in labels.of(input.current)
	not l in labels.of(input.resource)
}

# An explicit label removed is a change even when a code still implies it: systems downstream read
# meta.security, not this gateway's code tables.
protection_change if {
	interaction in {"update", "patch"}
	input.current
	input.resource
	some l in labels.labelled(input.current)
	not l in labels.labelled(input.resource)
}

protection_change if {
	input.request.type == "Consent"
	interaction in {"create", "update", "patch", "delete"}
}

deny contains reasons.protection_not_permitted if {
	protection_change
	not may_change_protections
}

may_change_protections if {
	not patient_only
	roles.manages_protections
}

# A patient manages their own Consents: those about them, before and after the write.
may_change_protections if {
	patient_only
	has_patient
	input.request.type == "Consent"
	data.fhirgw.config.patients_manage_own_consents
	consent_is_own(object.get(input, "resource", null))
	consent_is_own(object.get(input, "current", null))
}

consent_is_own(null)

consent_is_own(c) if {
	c != null
	c.resourceType == "Consent"
	only_own_patient(object.get(object.get(input, facts_key(c), {}), "patients", []))
}

facts_key(c) := "facts" if c == object.get(input, "resource", null)

else := "current_facts"

# ---- access history (AuditEvent searches, answered by the gateway from its audit store) ----

# Who may read which history (data.fhirgw.config.access_history): a patient-context token its own
# patient's only; the roles listed (the privacy office) everyone's; nobody else.
access_history if {
	input.request.type == "AuditEvent"
	interaction == "search-type"
}

history_config := data.fhirgw.config.access_history

deny contains reasons.history_not_permitted if {
	access_history
	not history_reader
}

history_reader if {
	patient_only
	has_patient
	history_config.patients_see_own
}

history_reader if {
	not patient_only
	some role in roles.effective
	role in history_config.roles
}

# A patient naming another patient is refused on the request alone, whoever that patient is.
deny contains reasons.compartment_other_patient if {
	access_history
	patient_only
	some p in input.request.params
	p.name == "patient"
	some v in p.values
	not v in {input.principal.patient, concat("/", ["Patient", input.principal.patient])}
}

# What the reader sees: a patient their own history, with staff shown as the policy says (names, or
# role and organisation); the privacy office all of it, with names.
history_obligation := {"history": {"patient": input.principal.patient, "staff": history_config.staff_to_patients, "organisation": history_config.organisation}} if {
	access_history
	patient_only
} else := {"history": {"patient": null, "staff": "names", "organisation": history_config.organisation}} if {
	access_history
} else := {}

# ---- obligations ----

# Searches, conditional writes and conditional creates select resources by criteria: for a
# patient-context token the criteria are narrowed to its compartment before they are forwarded.
selects_by_criteria if interaction in {"search-type", "search-compartment"}

selects_by_criteria if {
	interaction in {"update", "patch", "delete"}
	is_null(input.request.id)
}

selects_by_criteria if {
	interaction == "create"
	is_array(input.request.if_none_exist)
}

narrowing := {"narrow": {"patient": input.principal.patient}} if {
	patient_only
	selects_by_criteria
} else := {}

# Counts (Bundle.total, _summary=count) are released only when everything the upstream selects will
# be released: a patient's own compartment, with no granular scope restricting the results. For
# anyone else, sensitivity labels, consents and role tables withhold resources per entry, and a
# count of them would reveal that withheld data exists (how many HIV tests a patient has had).
counts := {"release_total": true} if {
	interaction in {"search-type", "search-compartment"}
	not granular
	patient_only
} else := {}

granular if {
	some s in granting
	count(s.query) > 0
}

# The redactions the principal's view of the requested type will have (the same rules the resource
# decisions apply): search criteria may not test what they remove or generalise.
criteria_redactions := {"redact": r} if {
	not patient_only
	is_string(input.request.type)
	r := roles.redactions(input.request.type)
	count(r) > 0
} else := {"redact": r} if {
	not patient_only
	not is_string(input.request.type)
	r := [x | some role in roles.effective; roles.purpose_ok(role); some x in object.get(data.fhirgw.roles[role], "redact", [])]
	count(r) > 0
} else := {}

# Changes of protection are recorded as such, for review.
protection_audit := {"audit": {"protection_change": true}} if protection_change

else := {}

obligations := object.union(object.union(object.union(object.union(narrowing, counts), criteria_redactions), protection_audit), history_obligation)
