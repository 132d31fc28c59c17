# METADATA
# title: Roles
# description: |
#   What the principal's roles permit, from data.fhirgw.roles (edit that table, not this file).
#   A role grants only when its purpose-of-use requirement is met. A backend service with system
#   scopes and no known role is given the `system` role.
# schemas:
#   - input: schema["policy-input.shared.schema"]
package fhirgw.lib.roles

import data.fhirgw.roles as table

known := {r | some r in input.principal.roles; table[r]}

# Undefined would make every `count(effective) == 0` check undefined too, silently passing.
default effective := set()

effective := known if count(known) > 0

effective := {"system"} if {
	count(known) == 0
	system_only
}

system_only if {
	count(input.principal.scopes) > 0
	every s in input.principal.scopes {
		s.context == "system"
	}
}

purpose_ok(role) if count(object.get(table[role], "purposes", [])) == 0

purpose_ok(role) if {
	some p in input.principal.purpose_of_use
	p in table[role].purposes
}

# Known roles whose purpose requirement is not met (for the reason code).
missing_purpose := {r | some r in effective; not purpose_ok(r)}

# Roles that may read, or write, resources of `type`: listed in `read` (`write`), `"*"` for every
# type, and not in `read_except` (`write_except`). An exclusion is the role's own: another role of the
# principal that grants the type still grants it.
reading(type) := {r |
	some r in effective
	purpose_ok(r)
	grants(table[r], "read", type)
}

writing(type) := {r |
	some r in effective
	purpose_ok(r)
	grants(table[r], "write", type)
}

grants(role, perm, type) if {
	lists(role[perm], type)
	not type in object.get(role, concat("_", [perm, "except"]), [])
}

lists(list, _) if "*" in list

lists(list, type) if type in list

# Sensitivity labels some effective role may see.
labels := {l |
	some r in effective
	purpose_ok(r)
	some l in object.get(table[r], "labels", [])
}

# Break-the-glass is open to roles marked break_glass, with a purpose of use that invokes it and,
# unless data.fhirgw.config.break_glass_requires_reason is false, a stated reason for the audit trail.
# (Defined either way, so each is evaluated once per evaluation: an undefined rule is not memoized.)
default break_glass := false

default break_glass_reason_missing := false

break_glass if {
	invokes_break_glass
	reason_stated
}

# Asked for break-the-glass without the reason the deployment requires.
break_glass_reason_missing if {
	invokes_break_glass
	not reason_stated
}

invokes_break_glass if {
	some r in effective
	object.get(table[r], "break_glass", false)
	some p in input.principal.purpose_of_use
	p in data.fhirgw.config.break_glass_purposes
}

reason_stated if not data.fhirgw.config.break_glass_requires_reason

reason_stated if {
	is_string(input.principal.break_glass_reason)
	input.principal.break_glass_reason != ""
}

# Redactions for reading `type`: none if any granting role reads it in full, else those of the roles.
redactions(type) := [] if {
	some r in reading(type)
	count(object.get(table[r], "redact", [])) == 0
} else := [x |
	some r in reading(type)
	some x in table[r].redact
]

# Some effective role may lower security labels and manage Consents (the privacy office).
default manages_protections := false

manages_protections if {
	some r in effective
	purpose_ok(r)
	object.get(table[r], "manage_protections", false)
}
