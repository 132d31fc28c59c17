# METADATA
# title: Resource decision
# description: |
#   Decides, for one resource coming back from the FHIR server, whether it is released and what is
#   redacted from it. Entry point: fhirgw/resource/decision; the gateway calls the batched
#   fhirgw/resources/decisions, which applies decide() to every resource of a response.
#
#   Layers, each able to withhold: SMART scopes; the patient compartment (patient-context tokens);
#   the principal's roles and purpose of use; sensitivity labels; the patients' Consents. The
#   patient sees all of their own data. Break-the-glass lifts label and consent restrictions for
#   roles allowed to use it, and marks the decision.
#
#   Everything that depends on the resource is a function of it (decide), what depends on its type
#   only is for_type, and what depends on the principal only is a rule: evaluated once per batch,
#   not once per resource.
# schemas:
#   - input: schema["policy-input.resource.schema"]
package fhirgw.resource

import data.fhirgw.lib.assurance
import data.fhirgw.lib.consent
import data.fhirgw.lib.labels
import data.fhirgw.lib.reasons
import data.fhirgw.lib.roles
import data.fhirgw.lib.scopes

decision := decide(input.resource, input.facts, for_type(input.resource.resourceType))

# What the principal's roles say about resources of one type: the same for every resource of that
# type, so a batch computes it once per type (fhirgw.resources).
for_type(type) := {
	"type": type,
	"reading": count(roles.reading(type)) > 0,
	"redactions": roles.redactions(type),
}

default decide(_, _, _) := {"allow": false, "reasons": ["default.deny"]}

decide(resource, facts, type_info) := verdict(ctx) if {
	contexts := scopes.resource_contexts(resource)
	restricted := restrictions(resource, facts, contexts)
	ctx := {
		"facts": facts,
		"type": type_info,
		"contexts": contexts,
		"restricted": restricted,
		"deny": denials(type_info, facts, contexts, restricted),
	}
}

verdict(ctx) := {"allow": true, "reasons": allow_reasons(ctx), "obligations": obligations(ctx)} if allowed(ctx)

verdict(ctx) := {"allow": false, "reasons": sort(ctx.deny)} if {
	not allowed(ctx)
	count(ctx.deny) > 0
}

allowed(ctx) if ctx.type.type in data.fhirgw.config.always_visible_types

# No denial also means some scope covers the resource (else scope.missing).
allowed(ctx) if {
	not ctx.type.type in data.fhirgw.config.always_visible_types
	count(ctx.deny) == 0
}

broad(contexts) if {
	some c in contexts
	c != "patient"
}

patient_only(contexts) if {
	not broad(contexts)
	"patient" in contexts
}

# null is a value in Rego (and truthy), so presence is tested with is_string. (Defined either way,
# so it is evaluated once per evaluation: an undefined rule is not memoized.)
default has_patient := false

has_patient if is_string(input.principal.patient)

own_data(facts, contexts) if {
	patient_only(contexts)
	has_patient
	input.principal.patient in facts.patients
}

denials(type_info, facts, contexts, restricted) := ({r | some r in checks; denied(r, type_info, facts, contexts)} | {r |
	not break_glass(contexts)
	some r in restricted
}) | reason_missing(contexts, restricted)

# Tell the user why break-the-glass did not open the data: the stated reason was missing.
reason_missing(contexts, restricted) := {reasons.break_glass_reason_missing |
	not patient_only(contexts)
	roles.break_glass_reason_missing
	count(restricted) > 0
}

# Function heads cannot name a constant: the literals of denied() are checked against the catalogue
# (test/integration/reason-catalogue.test.ts).
checks := [reasons.scope_missing, reasons.launch_no_patient, reasons.compartment_other_patient, reasons.role_none, reasons.purpose_missing, reasons.role_type_not_permitted]

denied("scope.missing", _, _, contexts) if count(contexts) == 0

# ---- patient compartment ----

denied("launch.no-patient", _, _, contexts) if {
	patient_only(contexts)
	not has_patient
}

# Patient scopes: the patient's own compartment, and resources that are nobody's (a Practitioner,
# a Medication) when the scope covers their type.
denied("compartment.other-patient", _, facts, contexts) if {
	patient_only(contexts)
	has_patient
	facts.patient_data
	not input.principal.patient in facts.patients
}

# ---- roles and purpose of use (everyone but the patient in their own compartment) ----

subject_to_roles(contexts) if not patient_only(contexts)

denied("role.none", _, _, contexts) if {
	subject_to_roles(contexts)
	count(roles.effective) == 0
}

denied("purpose.missing", type_info, _, contexts) if {
	subject_to_roles(contexts)
	count(roles.effective) > 0
	not type_info.reading
	count(roles.missing_purpose) > 0
}

denied("role.type-not-permitted", type_info, _, contexts) if {
	subject_to_roles(contexts)
	count(roles.effective) > 0
	count(roles.missing_purpose) == 0
	not type_info.reading
}

# ---- sensitive data and consent: the patient's own data is never withheld from them ----

restrictions(resource, facts, contexts) := {reasons.label_sensitive |
	not own_data(facts, contexts)
	some label in labels.of(resource)
	not label in open_labels
	not consent.explicitly_permitted(resource, facts)
} | {reason |
	not own_data(facts, contexts)
	facts.patient_data
	not consent_administration(resource, contexts)
	some reason in consent.refusals(resource, facts)
}

# The privacy office administers Consents: a Consent never hides itself from the role that must be
# able to change or retire it.
consent_administration(resource, contexts) if {
	resource.resourceType == "Consent"
	not patient_only(contexts)
	roles.manages_protections
}

# The sensitive labels the principal's roles open, once the login is strong enough for them
# (data.fhirgw.assurance.sensitive_labels): below it, sensitive resources are withheld like others.
default open_labels := set()

open_labels := roles.labels if assurance.sensitive_labels_open

# Break-the-glass opens restricted data only after a login strong and recent enough for it (the
# request decision has refused anything less with a step-up challenge already).
break_glass(contexts) if {
	not patient_only(contexts)
	roles.break_glass
	assurance.break_glass_assured
}

break_glass_used(ctx) if {
	break_glass(ctx.contexts)
	count(ctx.restricted) > 0
}

# ---- other patients named in the patient's own data ----

# A resource can be the patient's own and still name other patients: a Group of both, a
# Patient.link, a performer or focus. The patient sees it, but not who else it names: every
# reference to another patient (with its display) is removed before it is released.
other_patient_redactions(facts, contexts) := array.concat(
	[r |
		patient_only(contexts)
		has_patient
		some p in object.get(facts, "referenced_patients", [])
		p != input.principal.patient
		r := {
			"path": concat("", ["descendants().where(reference.matches('(^|/)Patient/", replace(p, ".", "\\\\."), "(/_history/[^/]*)?$'))"]),
			"action": "remove",
		}
	],
	logical_patient_references(facts, contexts),
)

# A reference that names a patient by identifier or display only (no `reference`): it cannot be
# told apart from a reference to another patient, so it is removed like one.
logical_patient_references(facts, contexts) := [logical_patient_reference] if {
	patient_only(contexts)
	has_patient
	object.get(facts, "logical_patient_references", false)
} else := []

logical_patient_reference := {
	"path": "descendants().ofType(Reference).where(reference.empty() and (identifier.exists() or display.exists()) and (type.empty() or type = 'Patient'))",
	"action": "remove",
}

# ---- obligations ----

role_redactions(ctx) := ctx.type.redactions if subject_to_roles(ctx.contexts)

else := []

redactions(ctx) := array.concat(role_redactions(ctx), other_patient_redactions(ctx.facts, ctx.contexts))

redaction_part(ctx) := {"redact": r} if {
	r := redactions(ctx)
	count(r) > 0
} else := {}

break_glass_part(ctx) := {"audit": {"break_glass": true}} if break_glass_used(ctx)

else := {}

obligations(ctx) := object.union(redaction_part(ctx), break_glass_part(ctx))

extra_reasons(ctx) := ({reasons.redact_role | count(role_redactions(ctx)) > 0} | {reasons.redact_other_patients | count(other_patient_redactions(ctx.facts, ctx.contexts)) > 0}) | {reasons.break_glass | break_glass_used(ctx)}

allow_reasons(ctx) := array.concat([reasons.scope_ok], sort([r | some r in extra_reasons(ctx)]))
