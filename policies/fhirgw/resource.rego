# METADATA
# title: Resource decision
# description: |
#   Decides, for one resource coming back from the FHIR server, whether it is released and what is
#   redacted from it. Entry point: fhirgw/resource/decision; the gateway calls the batched
#   fhirgw/resources/decisions, which decides every resource of a response the same way.
#
#   Layers, each able to withhold: SMART scopes; the patient compartment (patient-context tokens);
#   the principal's roles and purpose of use; sensitivity labels; the patients' Consents. The
#   patient sees all of their own data. Break-the-glass lifts label and consent restrictions for
#   roles allowed to use it, and marks the decision.
#
#   Everything that depends on the resource is a function of it (decide): what depends on its view
#   alone is about(), worked out once per distinct view of a batch; what depends on its type only
#   is for_type; and what depends on the principal only is a rule, evaluated once per batch.
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

# What depends on the resource as policy sees it (its view: src/policy/resource-view.ts) and not on
# its facts: a batch computes it once per distinct view (fhirgw.resources), and a Bundle of one
# patient's laboratory results has a handful of distinct views among a thousand resources.
about(resource, type_info) := {
	"resource": resource,
	"type": type_info,
	"contexts": (type_info.contexts | scopes.granular_contexts(resource)),
	"labels": labels.of(resource),
	"codes": {concat("|", [object.get(c, "system", ""), object.get(c, "code", "")]) | some c in labels.codings(resource)},
}

# What the principal's roles say about resources of one type: the same for every resource of that
# type, so a batch computes it once per type (fhirgw.resources). `role_denials` are the refusals of
# the roles and purpose of use, which apply to every resource of the type outside the patient's
# own compartment.
for_type(type) := {
	"type": type,
	"always_visible": type in data.fhirgw.config.always_visible_types,
	"reading": reading,
	"redactions": roles.redactions(type),
	"role_denials": role_denials(reading),
	"contexts": scopes.type_contexts(type),
} if reading := count(roles.reading(type)) > 0

default decide(_, _, _) := {"allow": false, "reasons": ["default.deny"]}

# Per resource, everything is computed once and handed on: function calls are not memoized, so a
# value asked for twice is computed twice (a 1,000-entry Bundle is 1,000 of these).
decide(resource, facts, type_info) := decide_about(about(resource, type_info), facts)

# What decide() answers when no rule decides (fhirgw.resources answers it too).
default_decision := {"allow": false, "reasons": [reasons.default_deny]}

decide_about(subject, facts) := verdict(ctx) if {
	scope := scope_of(subject.contexts, facts)
	restricted := restrictions(subject, facts, scope)
	ctx := {
		"facts": facts,
		"type": subject.type,
		"scope": scope,
		"restricted": restricted,
		"deny": denials(subject.type, facts, subject.contexts, scope, restricted),
	}
}

verdict(ctx) := allow_verdict(ctx) if {
	allowed(ctx)
} else := {"allow": false, "reasons": sort(ctx.deny)} if {
	count(ctx.deny) > 0
}

# No denial also means some scope covers the resource (else scope.missing).
allowed(ctx) if ctx.type.always_visible

allowed(ctx) if count(ctx.deny) == 0

# The decision of every resource with this subject whose facts cannot change it: when no patient
# scope covers it (the patient compartment and other-patient redactions read the facts' patients)
# and none of its patients has a Consent that concerns this access (fhirgw.lib.consent.unconcerned:
# consent refusals, and the consents that permit a sensitive label, read the facts). Then scope_of,
# restrictions, denials and the verdict read nothing of the facts, and fhirgw.resources decides the
# subject once instead of once per resource. A rule added above that reads the facts must add its
# condition here (fhirgw.resources checks the patients); test/unit/batched-decisions.test.ts
# compares both ways on random batches.
view_decision(subject) := decide_about(subject, {"patients": [], "patient_data": true, "data_date": null, "referenced_patients": [], "logical_patient_references": false}) if {
	subject.contexts != {"patient"}
}

# What the resource's scopes make of it, as values: whether only patient scopes cover it, whether
# it is the patient's own data, and whether break-the-glass is open here.
scope_of(contexts, facts) := {"patient_only": patient_only, "own_compartment": own, "own_data": own_data(own, facts), "break_glass": break_glass_here(patient_only)} if {
	patient_only := contexts == {"patient"}
	own := own_compartment(patient_only)
}

own_compartment(true) := has_patient

own_compartment(false) := false

own_data(true, facts) := input.principal.patient in facts.patients

own_data(false, _) := false

break_glass_here(true) := false

break_glass_here(false) := break_glass_open

# null is a value in Rego (and truthy), so presence is tested with is_string. (Defined either way,
# so it is evaluated once per evaluation: an undefined rule is not memoized.)
default has_patient := false

has_patient if is_string(input.principal.patient)

# Break-the-glass opens restricted data only after a login strong and recent enough for it (the
# request decision has refused anything less with a step-up challenge already).
default break_glass_open := false

break_glass_open if {
	roles.break_glass
	assurance.break_glass_assured
}

denials(type_info, facts, contexts, scope, restricted) := ((scope_denials(facts, contexts, scope) | type_denials(type_info, scope)) | {r |
	not scope.break_glass
	some r in restricted
}) | reason_missing(scope, restricted)

scope_denials(facts, contexts, scope) := {reasons.scope_missing} if count(contexts) == 0

# ---- patient compartment ----

# Patient scopes: the patient's own compartment, and resources that are nobody's (a Practitioner,
# a Medication) when the scope covers their type.
else := {reasons.launch_no_patient} if {
	scope.patient_only
	not has_patient
}

else := {reasons.compartment_other_patient} if {
	scope.own_compartment
	facts.patient_data
	not scope.own_data
}

else := set()

# ---- roles and purpose of use (everyone but the patient in their own compartment) ----

type_denials(type_info, scope) := type_info.role_denials if not scope.patient_only

else := set()

role_denials(reading) := {reasons.role_none} if count(roles.effective) == 0

else := {reasons.purpose_missing} if {
	count(roles.missing_purpose) > 0
	not reading
}

else := {reasons.role_type_not_permitted} if not reading

else := set()

# Tell the user why break-the-glass did not open the data: the stated reason was missing.
reason_missing(scope, restricted) := {reasons.break_glass_reason_missing} if {
	not scope.patient_only
	roles.break_glass_reason_missing
	count(restricted) > 0
} else := set()

# ---- sensitive data and consent: the patient's own data is never withheld from them ----

restrictions(subject, facts, scope) := set() if scope.own_data

else := {reasons.label_sensitive |
	some label in subject.labels
	not label in open_labels
	not consent.explicitly_permitted(subject, facts)
} | {reason |
	facts.patient_data
	not consent_administration(subject.resource, scope)
	some reason in consent.refusals(subject, facts)
}

# The privacy office administers Consents: a Consent never hides itself from the role that must be
# able to change or retire it.
consent_administration(resource, scope) if {
	resource.resourceType == "Consent"
	not scope.patient_only
	roles.manages_protections
}

# The sensitive labels the principal's roles open, once the login is strong enough for them
# (data.fhirgw.assurance.sensitive_labels): below it, sensitive resources are withheld like others.
default open_labels := set()

open_labels := roles.labels if assurance.sensitive_labels_open

# ---- other patients named in the patient's own data ----

# A resource can be the patient's own and still name other patients: a Group of both, a
# Patient.link, a performer or focus. The patient sees it, but not who else it names: every
# reference to another patient (with its display) is removed before it is released.
other_patient_redactions(facts, scope) := array.concat(
	[r |
		some p in object.get(facts, "referenced_patients", [])
		p != input.principal.patient
		r := {
			"path": concat("", ["descendants().where(reference.matches('(^|/)Patient/", replace(p, ".", "\\\\."), "(/_history/[^/]*)?$'))"]),
			"action": "remove",
		}
	],
	logical_patient_references(facts),
) if scope.own_compartment

else := []

# A reference that names a patient by identifier or display only (no `reference`): it cannot be
# told apart from a reference to another patient, so it is removed like one.
logical_patient_references(facts) := [logical_patient_reference] if {
	object.get(facts, "logical_patient_references", false)
} else := []

logical_patient_reference := {
	"path": "descendants().ofType(Reference).where(reference.empty() and (identifier.exists() or display.exists()) and (type.empty() or type = 'Patient'))",
	"action": "remove",
}

# ---- obligations and reasons of a release ----

role_redactions(ctx) := [] if ctx.scope.patient_only

else := ctx.type.redactions

allow_verdict(ctx) := {"allow": true, "reasons": array.concat([reasons.scope_ok], sort(extra)), "obligations": object.union(redaction_part(redact), break_glass_part(used))} if {
	by_role := role_redactions(ctx)
	other := other_patient_redactions(ctx.facts, ctx.scope)
	redact := array.concat(by_role, other)
	used := break_glass_used(ctx.scope.break_glass, ctx.restricted)
	extra := ({reasons.redact_role | count(by_role) > 0} | {reasons.redact_other_patients | count(other) > 0}) | {reasons.break_glass | used}
}

redaction_part(redact) := {"redact": redact} if count(redact) > 0

else := {}

break_glass_used(true, restricted) := count(restricted) > 0

break_glass_used(false, _) := false

break_glass_part(true) := {"audit": {"break_glass": true}}

break_glass_part(false) := {}
