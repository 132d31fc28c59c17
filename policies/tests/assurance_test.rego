# Assurance of the login (data.fhirgw.assurance): multi-factor for staff access to sensitive labels
# and break-the-glass, a recent login for break-the-glass, step-up obligations on request decisions.
package fhirgw.tests.assurance

import data.fhirgw.request
import data.fhirgw.resource
import data.fhirgw.tests.fixtures as f

hiv_obs(patient) := {
	"resourceType": "Observation", "id": "o-hiv", "subject": {"reference": sprintf("Patient/%s", [patient])},
	"code": {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]},
}

decide_request(principal, req) := d if {
	d := request.decision with input as f.request_input({"principal": principal, "request": req, "env": f.env})
}

decide_resource(principal, res, patients) := d if {
	d := resource.decision with input as f.resource_input({
		"principal": principal, "request": f.request("read", res.resourceType, res.id), "env": f.env,
		"resource": res, "facts": {"patients": patients, "patient_data": true},
	})
}

search(type, name, value) := object.union(f.request("search-type", type, null), {"params": [{"name": name, "modifier": null, "value": value, "values": [value]}]})

btg := f.break_glass_clinician(["BTG"])

# ---- break-the-glass: a table of logins ----

break_glass_cases := [
	# [login, allowed, reasons, step_up]
	[f.mfa_login, true, ["scope.ok"], null],
	[{"level": 2, "methods": [], "authenticated_at": f.env.now_seconds - 60}, true, ["scope.ok"], null],
	[{"level": 3, "methods": [], "authenticated_at": f.env.now_seconds - 899}, true, ["scope.ok"], null],
	[f.password_login, false, ["assurance.level-insufficient"], {"level": 2, "max_age": 900}],
	[f.stale_mfa_login, false, ["assurance.auth-too-old"], {"max_age": 900}],
	[{"level": 2, "methods": ["mfa"], "authenticated_at": null}, false, ["assurance.auth-too-old"], {"max_age": 900}],
	[{"level": null, "methods": [], "authenticated_at": null}, false, ["assurance.auth-too-old", "assurance.level-insufficient"], {"level": 2, "max_age": 900}],
	[{"level": 1, "methods": ["pwd", "sms"], "authenticated_at": f.env.now_seconds - 60}, false, ["assurance.level-insufficient"], {"level": 2, "max_age": 900}],
]

test_break_glass_request_decisions_by_login if {
	every c in break_glass_cases {
		d := decide_request(f.with_login(btg, c[0]), f.request("read", "Observation", "o-hiv"))
		d.allow == c[1]
		d.reasons == c[2]
		object.get(object.get(d, "obligations", {}), "step_up", null) == c[3]
	}
}

test_break_glass_with_mfa_opens_hiv_data if {
	d := decide_resource(btg, hiv_obs("p1"), ["p1"])
	d.allow
	d.obligations.audit.break_glass
}

test_break_glass_with_a_password_login_opens_nothing if {
	d := decide_resource(f.with_login(btg, f.password_login), hiv_obs("p1"), ["p1"])
	not d.allow
	d.reasons == ["label.sensitive"]
}

# Stepping up cannot help a request refused for other reasons: no challenge then.
test_no_step_up_when_something_else_is_missing if {
	p := object.union(f.with_login(btg, f.password_login), {"break_glass_reason": null})
	d := decide_request(p, f.request("read", "Observation", "o1"))
	not d.allow
	"break-glass.reason-missing" in d.reasons
	not d.obligations
}

test_max_age_is_deployment_data if {
	p := f.with_login(btg, f.stale_mfa_login)
	decide_request(p, f.request("read", "Observation", "o1")).allow with data.fhirgw.assurance.break_glass.max_age_seconds as 7200
	d := decide_request(p, f.request("read", "Observation", "o1")) with data.fhirgw.assurance.break_glass.max_age_seconds as 3600
	d.obligations.step_up == {"max_age": 3600}
}

test_multi_factor_methods_are_deployment_data if {
	p := f.with_login(btg, {"level": null, "methods": ["pwd", "sms"], "authenticated_at": f.env.now_seconds - 60})
	decide_request(p, f.request("read", "Observation", "o1")).allow with data.fhirgw.assurance.multi_factor_methods as ["sms"]
}

# ---- staff access to sensitive labels ----

test_privacy_officer_with_mfa_sees_hiv_data if {
	decide_resource(f.privacy_officer, hiv_obs("p1"), ["p1"]).allow
}

# Withheld (404 upstream of policy), never a challenge: a challenge would say the resource exists.
test_privacy_officer_with_a_password_login_does_not_see_hiv_data if {
	d := decide_resource(f.with_login(f.privacy_officer, f.password_login), hiv_obs("p1"), ["p1"])
	not d.allow
	d.reasons == ["label.sensitive"]
	not d.obligations
}

test_a_read_by_id_is_never_challenged if {
	d := decide_request(f.with_login(f.privacy_officer, f.password_login), f.request("read", "Observation", "o-hiv"))
	d.allow
	not d.obligations.step_up
}

test_a_search_for_a_sensitive_label_asks_for_mfa if {
	p := f.with_login(f.privacy_officer, f.password_login)
	every req in [
		search("Observation", "_security", "http://terminology.hl7.org/CodeSystem/v3-ActCode|HIV"),
		search("Observation", "_security", "HIV"),
		search("Observation", "code", "http://loinc.org|75622-1"),
	] {
		d := decide_request(p, req)
		not d.allow
		d.reasons == ["assurance.level-insufficient"]
		d.obligations.step_up == {"level": 2}
	}
}

test_a_search_excluding_sensitive_data_is_not_challenged if {
	p := f.with_login(f.privacy_officer, f.password_login)
	req := object.union(f.request("search-type", "Observation", null), {"params": [{"name": "_security", "modifier": "not", "value": "HIV", "values": ["HIV"]}]})
	decide_request(p, req).allow
}

# A clinician's roles open no sensitive label: a stronger login would not change the answer.
test_a_search_for_labels_the_roles_do_not_open_is_not_challenged if {
	p := f.with_login(f.clinician_treating, f.password_login)
	decide_request(p, search("Observation", "_security", "HIV")).allow
}

test_sensitive_labels_without_mfa_is_deployment_data if {
	p := f.with_login(f.privacy_officer, f.password_login)
	decide_resource(p, hiv_obs("p1"), ["p1"]).allow with data.fhirgw.assurance.sensitive_labels.multi_factor as false
}

# ---- not asked for more ----

test_patient_sees_own_hiv_data_after_a_password_login if {
	p := f.with_login(f.patient_principal, f.password_login)
	decide_resource(p, hiv_obs("p1"), ["p1"]).allow
	decide_request(p, search("Observation", "code", "http://loinc.org|75622-1")).allow
}

test_backend_services_are_not_asked_for_a_login if {
	p := f.with_login(f.system_service, {"level": null, "methods": [], "authenticated_at": null})
	decide_request(p, f.request("read", "Patient", "p1")).allow
}
