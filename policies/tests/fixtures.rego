# Shared principals and requests for the policy tests.
package fhirgw.tests.fixtures

scope(context, type, perms) := {"scope": sprintf("%s/%s.%s", [context, type, perms]), "context": context, "type": type, "perms": perms, "query": [], "version": 2}

granular(context, type, perms, name, value) := object.union(scope(context, type, perms), {"query": [{"name": name, "value": value}]})

principal(scopes, roles, patient) := {
	"iss": "https://idp.test",
	"sub": "user-1",
	"client_id": "app",
	"jti": "j1",
	"exp": 2000000000,
	"scopes": scopes,
	"other_scopes": [],
	"invalid_scopes": [],
	"roles": roles,
	"purpose_of_use": [],
	"patient": patient,
	"encounter": null,
	"fhir_user": null,
}

patient_principal := principal([scope("patient", "*", "rs")], ["patient"], "p1")

clinician := principal([scope("user", "*", "cruds")], ["clinician"], null)

researcher := principal([scope("user", "*", "rs")], ["researcher"], null)

request(interaction, type, id) := {
	"method": "GET",
	"interaction": interaction,
	"type": type,
	"id": id,
	"version": null,
	"compartment": null,
	"operation": null,
	"params": [],
	"search_via_post": false,
}

env := {"now": "2026-11-24T10:00:00Z", "now_seconds": 1795514400, "policy_revision": "test"}
