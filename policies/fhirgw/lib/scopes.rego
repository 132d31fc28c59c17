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
# every resource that comes back (resource_contexts), so a lab-only app can search Observation and
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

# Contexts of the scopes that let the principal see `resource` (read or search permission),
# including SMART v2 granular scopes whose query the resource matches.
resource_contexts(resource) := {s.context |
	some s in input.principal.scopes
	type_covered(s.type, resource.resourceType)
	some perm in ["r", "s"]
	contains(s.perms, perm)
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
