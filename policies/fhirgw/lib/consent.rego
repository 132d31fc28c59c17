# METADATA
# title: Consent
# description: |
#   The patients' FHIR Consents, applied to one access. The gateway reads the patients' active
#   Consents and flattens them (input.consents[patient id]): each nested provision is a rule with
#   the criteria of every provision on its path. A rule applies when all of them match this access
#   (actor, role, purpose, security label, class, code, data period); the deepest applying rule
#   decides (deny wins a tie), and the root provision's type decides when none applies.
#
#   Which Consents concern this access: patient-privacy always; research when the purpose of use is
#   HRESCH; treatment when it is TREAT or ETREAT.
#
#   Functions take the resource as a subject (fhirgw.resource.about): the resource as policy sees
#   it with its sensitivity labels and codes worked out once, since a batch shares one subject
#   among every resource with the same view.
# schemas:
#   - input: schema["policy-input.shared.schema"]
package fhirgw.lib.consent

import data.fhirgw.lib.reasons

# Consents of a patient none of which concerns this access: they can refuse nothing. A patient
# whose Consents could not be read is not among them.
unconcerned(patient) if {
	input.consents[patient].status == "ok"
	every c in input.consents[patient].consents {
		not concerns(c)
	}
}

# Reasons why the Consents of the resource's patients refuse this access (empty: no refusal).
refusals(subject, facts) := {reason |
	some patient in facts.patients
	some reason in patient_refusals(patient, subject, facts)
}

# Consents could not be read: refuse (never read it as "no consent on file").
patient_refusals(patient, _, _) := {reasons.consent_unavailable} if input.consents[patient].status == "unavailable"

patient_refusals(patient, subject, facts) := {reason_of(c, subject, facts) |
	input.consents[patient].status == "ok"
	some c in input.consents[patient].consents
	concerns(c)
	effect(c, subject, facts) == "deny"
} if input.consents[patient].status == "ok"

# True when a Consent of the resource's patients explicitly permits this access by a provision
# (not merely by its default): what lets sensitive data through for a named actor or purpose.
explicitly_permitted(subject, facts) if {
	some patient in facts.patients
	input.consents[patient].status == "ok"
	some c in input.consents[patient].consents
	concerns(c)
	rules := applying(c, subject, facts)
	count(rules) > 0
	deciding_type(rules) == "permit"
}

concerns(c) if c.scope == "patient-privacy"

concerns(c) if {
	c.scope == "research"
	"HRESCH" in input.principal.purpose_of_use
}

concerns(c) if {
	c.scope == "treatment"
	some p in input.principal.purpose_of_use
	p in {"TREAT", "ETREAT"}
}

effect(c, subject, facts) := deciding_type(rules) if {
	rules := applying(c, subject, facts)
	count(rules) > 0
} else := c.base

applying(c, subject, facts) := [r |
	some r in c.rules
	every cond in r.conditions {
		matches(cond, subject, facts)
	}
]

deepest(rules) := [r |
	some r in rules
	r.depth == max([x.depth | some x in rules])
]

deciding_type(rules) := "deny" if {
	some r in deepest(rules)
	r.type == "deny"
} else := "permit"

# The reason names what the deciding provision is about; a refusal by default names the scope.
reason_of(c, subject, facts) := reason if {
	rules := applying(c, subject, facts)
	count(rules) > 0
	some r in deepest(rules)
	r.type == "deny"
	reason := deny_reason[kind(r.conditions[count(r.conditions) - 1])]
} else := reasons.consent_deny_research if {
	c.scope == "research"
} else := reasons.consent_deny_base

deny_reason := {
	"actor": reasons.consent_deny_actor,
	"purpose": reasons.consent_deny_purpose,
	"label": reasons.consent_deny_label,
	"class": reasons.consent_deny_class,
	"code": reasons.consent_deny_code,
	"period": reasons.consent_deny_period,
	"provision": reasons.consent_deny_provision,
}

kind(cond) := "actor" if count(cond.actors) + count(cond.actor_roles) > 0

else := "purpose" if count(cond.purposes) > 0

else := "label" if count(cond.labels) > 0

else := "class" if count(cond.classes) > 0

else := "code" if count(cond.codes) > 0

else := "period" if cond.data_period != null

else := "provision"

matches(cond, subject, facts) if {
	actor_matches(cond)
	any_or_some(cond.purposes, {p | some p in input.principal.purpose_of_use})
	any_or_some(cond.labels, subject.labels)
	any_or_some(cond.classes, {subject.resource.resourceType})
	any_or_some(cond.codes, subject.codes)
	period_matches(cond.data_period, facts.data_date)
}

any_or_some(wanted, _) if count(wanted) == 0

any_or_some(wanted, have) if {
	some x in have
	x in wanted
}

actor_matches(cond) if {
	count(cond.actors) == 0
	count(cond.actor_roles) == 0
}

actor_matches(cond) if {
	count(cond.actors) > 0
	user := input.principal.fhir_user
	is_string(user.id)
	some actor in cond.actors
	same_reference(actor, concat("/", [user.type, user.id]))
}

# `Practitioner/9` matches itself and `https://host/fhir/Practitioner/9`, never `Practitioner/19`.
same_reference(actor, ref) if actor == ref

same_reference(actor, ref) if endswith(actor, concat("", ["/", ref]))

actor_matches(cond) if {
	count(cond.actor_roles) > 0
	some role in input.principal.roles
	role in cond.actor_roles
}

period_matches(null, _)

period_matches(period, date) if {
	period != null
	is_string(date)
	not before_start(period, date)
	not after_end(period, date)
}

before_start(period, date) if {
	is_string(period.start)
	date < period.start
}

after_end(period, date) if {
	is_string(period.end)
	date > period.end
}
