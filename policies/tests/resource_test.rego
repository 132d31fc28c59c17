package fhirgw.tests.resource

import data.fhirgw.lib.reasons
import data.fhirgw.resource
import data.fhirgw.resources
import data.fhirgw.tests.fixtures as f

obs(patient) := {"resourceType": "Observation", "id": "o1", "subject": {"reference": sprintf("Patient/%s", [patient])}}

decide(principal, res, patients) := d if {
	d := resource.decision with input as f.resource_input({
		"principal": principal, "request": f.request("search-type", "Observation", null), "env": f.env,
		"resource": res, "facts": {"patients": patients, "patient_data": true},
	})
}

test_patient_sees_own_observation if {
	decide(f.patient_principal, obs("p1"), ["p1"]).allow
}

test_patient_does_not_see_other_patients_observation if {
	d := decide(f.patient_principal, obs("p2"), ["p2"])
	not d.allow
	d.reasons == [reasons.compartment_other_patient]
}

# The gateway answers every withholding as a missing resource; policy says nothing about concealment.
test_a_withholding_carries_no_obligations if {
	p := f.principal([f.scope("user", "Patient", "rs")], [], null)
	d := decide(p, obs("p2"), ["p2"])
	not d.allow
	not d.obligations
}

test_logical_patient_references_are_removed_for_patients if {
	res := {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}, "performer": [{"type": "Patient", "identifier": {"value": "MRN-2"}}]}
	d := resource.decision with input as f.resource_input({
		"principal": f.patient_principal, "request": f.request("read", "Observation", "o1"), "env": f.env,
		"resource": res, "facts": {"patients": ["p1"], "patient_data": true, "logical_patient_references": true},
	})
	d.allow
	reasons.redact_other_patients in d.reasons
	some r in d.obligations.redact
	startswith(r.path, "descendants().ofType(Reference).where(reference.empty()")
}

test_logical_patient_references_stay_for_clinicians if {
	res := {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}
	d := resource.decision with input as f.resource_input({
		"principal": f.clinician_treating, "request": f.request("read", "Observation", "o1"), "env": f.env,
		"resource": res, "facts": {"patients": ["p1"], "patient_data": true, "logical_patient_references": true},
	})
	d.allow
	not d.obligations.redact
}

test_patient_sees_non_compartment_resources if {
	d := resource.decision with input as f.resource_input({
		"principal": f.patient_principal, "request": f.request("read", "Practitioner", "pr1"), "env": f.env,
		"resource": {"resourceType": "Practitioner", "id": "pr1"}, "facts": {"patients": [], "patient_data": false},
	})
	d.allow
}

test_patient_scope_without_patient_sees_nothing if {
	p := object.union(f.patient_principal, {"patient": null})
	d := resource.decision with input as f.resource_input({
		"principal": p, "request": f.request("read", "Practitioner", "pr1"), "env": f.env,
		"resource": {"resourceType": "Practitioner", "id": "pr1"}, "facts": {"patients": [], "patient_data": false},
	})
	not d.allow
	reasons.launch_no_patient in d.reasons
}

test_clinician_sees_any_patient if {
	d := decide(f.clinician, obs("p2"), ["p2"])
	d.allow
	not d.obligations.redact
}

test_type_not_in_scope_withheld if {
	p := f.principal([f.scope("user", "Patient", "rs")], ["clinician"], null)
	d := decide(p, obs("p2"), ["p2"])
	not d.allow
	d.reasons == [reasons.scope_missing]
}

test_granular_scope_matches_category if {
	p := f.principal([f.granular("user", "Observation", "rs", "category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory")], ["clinician"], null)
	lab := object.union(obs("p2"), {"category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]})
	vital := object.union(obs("p2"), {"category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]})
	decide(p, lab, ["p2"]).allow
	not decide(p, vital, ["p2"]).allow
}

test_granular_scope_on_unknown_parameter_grants_nothing if {
	p := f.principal([f.granular("user", "Observation", "rs", "status", "final")], ["clinician"], null)
	not decide(p, object.union(obs("p2"), {"status": "final"}), ["p2"]).allow
}

test_researcher_gets_safe_harbor_de_identification if {
	d := resource.decision with input as f.resource_input({
		"principal": f.researcher, "request": f.request("read", "Patient", "p2"), "env": f.env, "consents": {},
		"resource": {"resourceType": "Patient", "id": "p2"}, "facts": {"patients": ["p2"], "patient_data": true, "data_date": null},
	})
	d.allow
	d.obligations.redact == [{"path": "*", "action": "safe-harbor"}]
	reasons.redact_role in d.reasons
}

# Table: each research role and its de-identification profile; a principal holding both gets both
# rules, and Safe Harbor, the stricter, is what the released resource is.
research_profiles := [
	{"roles": ["researcher"], "redact": [{"path": "*", "action": "safe-harbor"}]},
	{"roles": ["researcher-dua"], "redact": [{"path": "*", "action": "limited-data-set"}]},
	{"roles": ["researcher", "researcher-dua"], "redact": [{"path": "*", "action": "safe-harbor"}, {"path": "*", "action": "limited-data-set"}]},
]

test_research_roles_get_their_de_identification_profile if {
	every case in research_profiles {
		d := resource.decision with input as f.resource_input({
			"principal": f.principal_for([f.scope("user", "*", "rs")], case.roles, null, ["HRESCH"]), "request": f.request("read", "Patient", "p2"), "env": f.env, "consents": {},
			"resource": {"resourceType": "Patient", "id": "p2"}, "facts": {"patients": ["p2"], "patient_data": true, "data_date": null},
		})
		d.allow
		sort_redactions(d.obligations.redact) == sort_redactions(case.redact)
		"redact.role" in d.reasons
	}
}

sort_redactions(list) := sort([sprintf("%s %s", [r.path, r.action]) | some r in list])

test_limited_data_set_needs_the_research_purpose if {
	d := resource.decision with input as f.resource_input({
		"principal": f.principal_for([f.scope("user", "*", "rs")], ["researcher-dua"], null, ["TREAT"]), "request": f.request("read", "Patient", "p2"), "env": f.env, "consents": {},
		"resource": {"resourceType": "Patient", "id": "p2"}, "facts": {"patients": ["p2"], "patient_data": true, "data_date": null},
	})
	not d.allow
}

test_operation_outcome_always_visible if {
	d := resource.decision with input as f.resource_input({
		"principal": f.principal([], [], null), "request": f.request("search-type", "Observation", null), "env": f.env,
		"resource": {"resourceType": "OperationOutcome"}, "facts": {"patients": [], "patient_data": false},
	})
	d.allow
}

test_batched_decisions_keep_order if {
	ds := resources.decisions with input as f.resources_input({
		"principal": f.patient_principal, "request": f.request("search-type", "Observation", null), "env": f.env,
		"items": [
			{"resource": obs("p2"), "facts": {"patients": ["p2"], "patient_data": true}},
			{"resource": obs("p1"), "facts": {"patients": ["p1"], "patient_data": true}},
		],
	})
	count(ds) == 2
	not ds[0].allow
	ds[1].allow
}

# One view, three patients: p1's research opt-out concerns the researcher, p2's treatment consent
# does not, p3's consents could not be read, and p4 is not among the consents read. Only p2's
# resource takes the view's decision; the others are decided on their facts.
test_batched_decisions_take_the_view_decision_only_where_no_consent_concerns_the_access if {
	research_opt_out := {"id": "c1", "scope": "research", "date": null, "base": "deny", "rules": []}
	treatment_only := {"id": "c2", "scope": "treatment", "date": null, "base": "deny", "rules": []}
	ds := resources.decisions with input as f.resources_input({
		"principal": f.researcher, "request": f.request("search-type", "Observation", null), "env": f.env,
		"consents": {
			"p1": {"status": "ok", "consents": [research_opt_out]},
			"p2": {"status": "ok", "consents": [treatment_only]},
			"p3": {"status": "unavailable"},
		},
		"items": [{"resource": obs(p), "facts": {"patients": [p], "patient_data": true}} | some p in ["p1", "p2", "p3", "p4"]],
	})
	[d.allow | some d in ds] == [false, true, false, true]
	ds[0].reasons == [reasons.consent_deny_research]
	ds[2].reasons == [reasons.consent_unavailable]
	ds[1] == ds[3]
}

# One labelled view, two patients: p1's treatment consent permits the label to clinicians, p2 has
# none. The consent reads the facts' patients, so p1's resource is decided on its facts.
test_batched_decisions_decide_a_labelled_view_on_its_consents if {
	labelled := object.union(obs("p1"), {"meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]}})
	permit_hiv := {"id": "c1", "scope": "treatment", "date": null, "base": "permit", "rules": [{"type": "permit", "depth": 1, "conditions": [{
		"actors": [], "actor_roles": ["clinician"], "purposes": [], "labels": ["HIV"],
		"classes": [], "codes": [], "data_period": null,
	}]}]}
	ds := resources.decisions with input as f.resources_input({
		"principal": f.clinician_treating, "request": f.request("search-type", "Observation", null), "env": f.env,
		"consents": {"p1": {"status": "ok", "consents": [permit_hiv]}, "p2": {"status": "ok", "consents": []}},
		"items": [{"resource": labelled, "facts": {"patients": [p], "patient_data": true}} | some p in ["p1", "p2"]],
	})
	ds[0].allow
	not ds[1].allow
	ds[1].reasons == [reasons.label_sensitive]
}

group_of(members) := {"resourceType": "Group", "id": "g1", "type": "person", "actual": true, "member": [{"entity": {"reference": sprintf("Patient/%s", [m])}} | some m in members]}

decide_referencing(principal, res, patients, referenced) := d if {
	d := resource.decision with input as f.resource_input({
		"principal": principal, "request": f.request("search-type", "Group", null), "env": f.env,
		"resource": res, "facts": {"patients": patients, "patient_data": true, "referenced_patients": referenced},
	})
}

test_patient_sees_shared_resource_without_the_other_patients if {
	d := decide_referencing(f.patient_principal, group_of(["p1", "p2.x"]), ["p1", "p2.x"], ["p1", "p2.x"])
	d.allow
	reasons.redact_other_patients in d.reasons
	d.obligations.redact == [{"path": `descendants().where(reference.matches('(^|/)Patient/p2\\.x(/_history/[^/]*)?$'))`, "action": "remove"}]
}

test_own_resource_without_other_patients_is_not_redacted if {
	d := decide_referencing(f.patient_principal, group_of(["p1"]), ["p1"], ["p1"])
	d.allow
	not d.obligations.redact
}

test_clinician_sees_every_member if {
	p := f.principal([f.scope("user", "Group", "rs")], ["clinician"], null)
	d := decide_referencing(p, group_of(["p1", "p2"]), ["p1", "p2"], ["p1", "p2"])
	not reasons.redact_other_patients in d.reasons
}

consent_excluding_everyone := {"p1": {"status": "ok", "consents": [{"id": "c1", "scope": "patient-privacy", "date": null, "base": "deny", "rules": []}]}}

test_a_consent_does_not_hide_itself_from_the_privacy_office if {
	c := {"resourceType": "Consent", "id": "c1", "patient": {"reference": "Patient/p1"}}
	d := resource.decision with input as f.resource_input({
		"principal": f.privacy_officer, "request": f.request("read", "Consent", "c1"), "env": f.env,
		"resource": c, "facts": {"patients": ["p1"], "patient_data": true}, "consents": consent_excluding_everyone,
	})
	d.allow
}

test_a_consent_that_excludes_everyone_excludes_the_privacy_office_from_the_data if {
	d := resource.decision with input as f.resource_input({
		"principal": f.privacy_officer, "request": f.request("read", "Observation", "o1"), "env": f.env,
		"resource": obs("p1"), "facts": {"patients": ["p1"], "patient_data": true}, "consents": consent_excluding_everyone,
	})
	not d.allow
}

# A search-only scope (SMART v2 `.s`) covers the resources a search returns, like `.rs`.
test_search_only_scope_covers_returned_resources if {
	p := f.principal([f.scope("user", "Observation", "s")], ["clinician"], null)
	decide(p, obs("p2"), ["p2"]).allow
}

# A read scope of another type covers nothing here.
test_scope_of_another_type_covers_nothing if {
	p := f.principal([f.scope("user", "Patient", "rs")], ["clinician"], null)
	d := decide(p, obs("p2"), ["p2"])
	reasons.scope_missing in d.reasons
}
