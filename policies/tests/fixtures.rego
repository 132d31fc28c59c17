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
	"break_glass_reason": null,
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

# A practitioner identified by fhirUser, for consents that name actors.
practitioner(id, roles, purposes) := object.union(principal_for([scope("user", "*", "rs")], roles, null, purposes), {"fhir_user": {"reference": sprintf("Practitioner/%s", [id]), "type": "Practitioner", "id": id}})

# A clinician invoking break-the-glass with the given purposes and a stated reason.
break_glass_clinician(purposes) := object.union(principal_for([scope("user", "*", "rs")], ["clinician"], null, purposes), {"break_glass_reason": "unconscious patient in ED"})

system_service := principal([scope("system", "*", "rs")], [], null)

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
