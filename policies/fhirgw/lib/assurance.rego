# METADATA
# title: Assurance of the login
# description: |
#   How strongly and when the user behind a token logged in (input.principal.assurance: the level
#   the issuer's acr maps to, the amr methods, auth_time), held against data.fhirgw.assurance:
#   staff (user-context tokens) see sensitive labels and use break-the-glass only after a
#   multi-factor login, break-the-glass only within max_age_seconds of it. Patients in their own
#   compartment and backend services (system scopes only) are not asked for more.
#
#   What the login lacks for break-the-glass is a property of the request (the purpose of use the
#   token invokes), so the request decision refuses it with a step_up obligation (RFC 9470
#   challenge). What it lacks for a sensitive resource is not: that resource is withheld like any
#   other, so the answer never tells it exists (docs/policy-guide.md, "Step-up").
package fhirgw.lib.assurance

import data.fhirgw.assurance as settings
import data.fhirgw.lib.reasons

# A token without the field (an older caller) is a login the gateway knows nothing about.
login := object.get(input.principal, "assurance", {"level": null, "methods": [], "authenticated_at": null})

# Staff: a user-context token. (Defined either way: an undefined rule is not memoized.)
default staff := false

staff if {
	some s in input.principal.scopes
	s.context == "user"
}

default multi_factor := false

multi_factor if {
	is_number(login.level)
	login.level >= settings.multi_factor_level
}

multi_factor if {
	some m in login.methods
	m in settings.multi_factor_methods
}

# Logged in no longer than max_age seconds ago; a token without auth_time is never recent.
recent(max_age) if {
	is_number(login.authenticated_at)
	input.env.now_seconds - login.authenticated_at <= max_age
}

# Staff may see the sensitive labels their roles grant.
default sensitive_labels_open := false

sensitive_labels_open if not staff

sensitive_labels_open if {
	staff
	not settings.sensitive_labels.multi_factor
}

sensitive_labels_open if {
	staff
	multi_factor
}

# What the login lacks for break-the-glass: reason codes of the request decision.
break_glass_gaps contains reasons.assurance_level_insufficient if {
	staff
	settings.break_glass.multi_factor
	not multi_factor
}

break_glass_gaps contains reasons.assurance_auth_too_old if {
	staff
	not recent(settings.break_glass.max_age_seconds)
}

default break_glass_assured := true

break_glass_assured := false if count(break_glass_gaps) > 0

# What a step-up must bring for break-the-glass: the multi-factor level when it is required and
# missing, and always a login within max_age (the new login is then fresh too).
break_glass_step_up := object.union(
	{"max_age": settings.break_glass.max_age_seconds},
	level_part,
)

level_part := {"level": settings.multi_factor_level} if reasons.assurance_level_insufficient in break_glass_gaps

else := {}

# What a step-up must bring for a request the client itself scoped to sensitive data.
sensitive_step_up := {"level": settings.multi_factor_level}
