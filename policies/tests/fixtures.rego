# Shared principals and requests for the policy tests.
package fhirgw.tests.fixtures

scope(context, type, perms) := {"scope": sprintf("%s/%s.%s", [context, type, perms]), "context": context, "type": type, "perms": perms, "query": [], "version": 2}

granular(context, type, perms, name, value) := object.union(scope(context, type, perms), {"query": [{"name": name, "value": value}]})

principal(scopes, roles, patient) := principal_for(scopes, roles, patient, [])

principal_for(scopes, roles, patient, purposes) := {
	"iss": "https://idp.test",
	"sub": "user-1",
	"client_id": "app",
	"jti": "j1",
	"exp": 2000000000,
	"scopes": scopes,
	"other_scopes": [],
	"invalid_scopes": [],
	"roles": roles,
	"purpose_of_use": purposes,
	"patient": patient,
	"encounter": null,
	"fhir_user": null,
	"tenant": null,
	"organization": null,
	"break_glass_reason": null,
	"binding": null,
	"assurance": mfa_login,
}

# A multi-factor login a minute before env.now (what every fixture principal has, unless a test
# replaces it), a password-only one, and a multi-factor one two hours old.
mfa_login := {"level": null, "methods": ["pwd", "otp"], "authenticated_at": env.now_seconds - 60}

password_login := {"level": 1, "methods": ["pwd"], "authenticated_at": env.now_seconds - 60}

stale_mfa_login := {"level": 2, "methods": ["pwd", "otp"], "authenticated_at": env.now_seconds - 7200}

with_login(p, login) := object.union(p, {"assurance": login})

patient_principal := principal([scope("patient", "*", "rs")], ["patient"], "p1")

clinician := principal([scope("user", "*", "cruds")], ["clinician"], null)

clinician_treating := principal_for([scope("user", "*", "cruds")], ["clinician"], null, ["TREAT"])

billing := principal_for([scope("user", "*", "rs")], ["billing"], null, ["HPAYMT"])

privacy_officer := principal([scope("user", "*", "cruds")], ["privacy-officer"], null)

researcher := principal_for([scope("user", "*", "rs")], ["researcher"], null, ["HRESCH"])

# Research under a data use agreement: the limited data set.
researcher_dua := principal_for([scope("user", "*", "rs")], ["researcher-dua"], null, ["HRESCH"])

# A practitioner identified by fhirUser, for consents that name actors.
practitioner(id, roles, purposes) := object.union(principal_for([scope("user", "*", "rs")], roles, null, purposes), {"fhir_user": {"reference": sprintf("Practitioner/%s", [id]), "type": "Practitioner", "id": id}})

# A clinician invoking break-the-glass with the given purposes and a stated reason.
break_glass_clinician(purposes) := object.union(principal_for([scope("user", "*", "rs")], ["clinician"], null, purposes), {"break_glass_reason": "unconscious patient in ED"})

system_service := principal([scope("system", "*", "rs")], [], null)

request(interaction, type, id) := {
	"method": method_of(interaction),
	"interaction": interaction,
	"type": type,
	"id": id,
	"version": null,
	"compartment": null,
	"operation": null,
	"params": [],
	"search_via_post": false,
	"if_none_exist": null,
}

# The HTTP method the gateway classified the interaction from.
method_of(interaction) := {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}[interaction]

default method_of(_) := "GET"

env := {"now": "2026-11-24T10:00:00Z", "now_seconds": 1795514400, "policy_revision": "test"}

# ---- the input documents the tests evaluate ----
# Every `with input as` goes through one of these: they complete a test's document with what the
# gateway always sends and the test does not care about (no Consents read, no clinical date), and
# print it, so that test/unit/policy-fixtures.test.ts can check every document the tests evaluate
# against the zod contract the gateway builds its inputs with (src/policy/contract.ts).

request_input(doc) := out if {
	out := with_facts(with_facts(doc, "facts"), "current_facts")
	print("fhirgw.test-input request", json.marshal(out))
}

resource_input(doc) := out if {
	base := with_facts(object.union({"consents": {}}, doc), "facts")
	out := with_view(base)
	print("fhirgw.test-input resource", json.marshal(out))
}

# The batched document as the gateway sends it to a bundle that declares resources_document
# "views" (src/policy/resource-view.ts): each distinct view once, items naming theirs by index.
resources_input(doc) := out if {
	items := [with_view(with_facts(item, "facts")) | some item in doc.items]
	views := [v | some v in {item.resource | some item in items}]
	out := object.union(object.remove(object.union({"consents": {}}, doc), ["items"]), {
		"views": views,
		"items": [{"view": index_of(views, item.resource), "facts": item.facts} | some item in items],
	})
	print("fhirgw.test-input resources", json.marshal(out))
}

index_of(list, x) := [i | some i, y in list; y == x][0]

# The resource as the gateway gives it to the resource policy (src/policy/resource-view.ts): only
# the elements data.fhirgw.config.resource_elements declares (`meta.security`: that element of
# meta), resourceType and the elements granular scopes match on. A rule that reads anything else
# sees nothing there, and its test fails. (object.union merges objects recursively, so the
# resource is removed before its view is put in.)
with_view(doc) := object.union(object.remove(doc, ["resource"]), {"resource": view_of(doc.resource)})

view_of(resource) := object.union(object.filter(resource, whole_elements), {element: part |
	some element, _ in partial_elements
	is_object(resource[element])
	part := object.filter(resource[element], partial_elements[element])
	count(part) > 0
})

whole_elements := ({"resourceType"} | {e | some e in data.fhirgw.config.resource_elements; not contains(e, ".")}) | {e | some e in data.fhirgw.config.granular_token_elements}

partial_elements := {element: {child |
	some e in data.fhirgw.config.resource_elements
	[element, child] = split(e, ".")
} |
	some e in data.fhirgw.config.resource_elements
	[element, _] = split(e, ".")
	not element in whole_elements
}

with_facts(doc, key) := object.union(doc, {key: object.union({"data_date": null}, doc[key])}) if is_object(doc[key])

else := doc
