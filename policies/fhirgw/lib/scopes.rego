# METADATA
# title: SMART scopes
# description: |
#   Which SMART scope contexts (patient, user, system) grant a permission on a resource type.
#   Scopes arrive parsed (src/auth/scopes.ts): v1 `.read` is perms "rs", v2 `.rs` is "rs".
# schemas:
#   - input: schema["policy-input.shared.schema"]
package fhirgw.lib.scopes

# The SMART v2 permission letter each FHIR interaction needs (operations: their own, in
# data.fhirgw.config.operations). The gateway's insufficient_scope challenge is generated from the
# same data (src/auth/generated/smart-permissions.ts).
perm_for := data.fhirgw.config.interaction_permissions

# The scopes that grant `perm` on `type` (a type name, or null for system-level requests).
# A granular scope (SMART v2 `?category=...`) grants the request too: its restriction is enforced on
# every resource that comes back (granular_contexts), so a lab-only app can search Observation and
# receives the laboratory results only.
granting_scopes(type, perm) := {s |
	some s in input.principal.scopes
	type_covered(s.type, type)
	contains(s.perms, perm)
}

# The scopes that carry `perm` on any type.
scopes_with_perm(perm) := {s |
	some s in input.principal.scopes
	contains(s.perms, perm)
}

# The contexts of the scopes that let the principal see a resource (read or search permission) are
# type_contexts(type) | granular_contexts(resource): the first once per type, the second per resource
# (SMART v2 granular scopes whose query the resource matches).

# The read and search scopes, once per evaluation.
readable := [s |
	some s in input.principal.scopes
	read_or_search(s.perms)
]

read_or_search(perms) if contains(perms, "r")

read_or_search(perms) if contains(perms, "s")

# Contexts of the read scopes without a query that cover `type`: the same for every resource of it,
# so a batch computes them once per type.
type_contexts(type) := {s.context |
	some s in readable
	count(s.query) == 0
	type_covered(s.type, type)
}

granular_readable := [s |
	some s in readable
	count(s.query) > 0
]

# Contexts of the granular scopes whose query the resource matches.
granular_contexts(resource) := {s.context |
	some s in granular_readable
	type_covered(s.type, resource.resourceType)
	granular_match(s.query, resource)
}

type_covered("*", _)

type_covered(scope_type, type) if scope_type == type

granular_match(query, _) if count(query) == 0

granular_match(query, resource) if {
	count(query) > 0
	every q in query {
		token_match(q, resource)
	}
}

# Granular restrictions are honoured for the token search parameters listed in
# data.fhirgw.config.granular_token_elements; any other parameter matches nothing (fail closed).
token_match(q, resource) if {
	element := data.fhirgw.config.granular_token_elements[q.name]
	some concept in as_array(object.get(resource, element, []))
	some coding in object.get(concept, "coding", [])
	coding_matches(q.value, coding)
}

coding_matches(value, coding) if {
	parts := split(value, "|")
	count(parts) == 2
	parts[0] == object.get(coding, "system", "")
	parts[1] == object.get(coding, "code", "")
}

coding_matches(value, coding) if {
	not contains(value, "|")
	value == object.get(coding, "code", "")
}

as_array(x) := x if is_array(x)

as_array(x) := [x] if not is_array(x)
