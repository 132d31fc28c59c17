package fhirgw.tests.request

import data.fhirgw.lib.reasons
import data.fhirgw.request
import data.fhirgw.tests.fixtures as f

decide(principal, req) := d if {
	d := request.decision with input as f.request_input({"principal": principal, "request": req, "env": f.env})
}

test_patient_reads_own_patient_record if {
	d := decide(f.patient_principal, f.request("read", "Patient", "p1"))
	d.allow
	d.reasons == [reasons.scope_ok]
}

test_patient_cannot_read_other_patient_record if {
	d := decide(f.patient_principal, f.request("read", "Patient", "p2"))
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

test_patient_search_is_narrowed_to_own_compartment if {
	d := decide(f.patient_principal, f.request("search-type", "Observation", null))
	d.allow
	d.obligations.narrow.patient == "p1"
}

test_patient_search_on_patient_type_is_narrowed_not_denied if {
	d := decide(f.patient_principal, f.request("search-type", "Patient", null))
	d.allow
	d.obligations.narrow.patient == "p1"
}

test_patient_data_search_of_other_patient_denied if {
	req := object.union(f.request("search-compartment", "Observation", null), {"compartment": {"type": "Patient", "id": "p2"}})
	d := decide(f.patient_principal, req)
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

test_patient_system_search_cannot_be_narrowed if {
	d := decide(f.patient_principal, f.request("search-system", null, null))
	not d.allow
	reasons.compartment_cannot_narrow in d.reasons
}

test_patient_scope_without_patient_in_context_denied if {
	p := object.union(f.patient_principal, {"patient": null})
	d := decide(p, f.request("read", "Observation", "o1"))
	not d.allow
	reasons.launch_no_patient in d.reasons
}

test_missing_scope_is_reported if {
	p := f.principal([f.scope("patient", "Observation", "rs")], [], "p1")
	d := decide(p, f.request("read", "Condition", "c1"))
	not d.allow
	d.reasons == [reasons.scope_missing]
}

test_read_scope_does_not_grant_search if {
	p := f.principal([f.scope("user", "Observation", "r")], [], null)
	d := decide(p, f.request("search-type", "Observation", null))
	not d.allow
	reasons.scope_missing in d.reasons
}

test_granular_scope_grants_the_search if {
	p := f.principal([f.granular("user", "Observation", "rs", "category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory")], ["clinician"], null)
	decide(p, f.request("search-type", "Observation", null)).allow
}

test_clinician_search_is_not_narrowed if {
	d := decide(f.clinician, f.request("search-type", "Observation", null))
	d.allow
	not d.obligations.narrow
}

test_patient_creates_in_own_compartment if {
	p := f.principal([f.scope("patient", "Observation", "c")], [], "p1")
	inp := {
		"principal": p, "request": f.request("create", "Observation", null), "env": f.env,
		"resource": {"resourceType": "Observation"}, "facts": {"patients": ["p1"], "patient_data": true},
	}
	d := request.decision with input as f.request_input(inp)
	d.allow
}

test_patient_cannot_create_in_other_compartment if {
	p := f.principal([f.scope("patient", "Observation", "c")], [], "p1")
	inp := {
		"principal": p, "request": f.request("create", "Observation", null), "env": f.env,
		"resource": {"resourceType": "Observation"}, "facts": {"patients": ["p1", "p2"], "patient_data": true},
	}
	d := request.decision with input as f.request_input(inp)
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

write_input(p, interaction, resource_patients, current_patients) := inp if {
	base := {"principal": p, "request": f.request(interaction, "Observation", "o1"), "env": f.env}
	with_resource := object.union(base, {"resource": {"resourceType": "Observation"}, "facts": {"patients": resource_patients, "patient_data": true}})
	inp := object.union(with_resource, {"current": {"resourceType": "Observation"}, "current_facts": {"patients": current_patients, "patient_data": true}})
}

writer := f.principal([f.scope("patient", "Observation", "cud")], [], "p1")

test_patient_updates_own_resource_keeping_it_own if {
	d := request.decision with input as f.request_input(write_input(writer, "update", ["p1"], ["p1"]))
	d.allow
}

test_patient_cannot_move_own_resource_to_another_patient if {
	d := request.decision with input as f.request_input(write_input(writer, "update", ["p2"], ["p1"]))
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

test_patient_cannot_take_over_another_patients_resource if {
	d := request.decision with input as f.request_input(write_input(writer, "patch", ["p1"], ["p2"]))
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

test_patient_cannot_delete_another_patients_resource if {
	inp := object.remove(write_input(writer, "delete", [], ["p2"]), ["resource", "facts"])
	d := request.decision with input as f.request_input(inp)
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

test_patient_update_that_creates_is_judged_on_its_body if {
	inp := object.remove(write_input(writer, "update", ["p1"], []), ["current", "current_facts"])
	d := request.decision with input as f.request_input(inp)
	d.allow
}

test_patient_conditional_write_is_narrowed if {
	d := decide(writer, f.request("delete", "Observation", null))
	d.allow
	d.obligations.narrow.patient == "p1"
}

test_patient_conditional_create_is_narrowed if {
	req := object.union(f.request("create", "Observation", null), {"if_none_exist": [{"name": "identifier", "modifier": null, "value": "x", "values": ["x"]}]})
	inp := {"principal": writer, "request": req, "env": f.env, "resource": {"resourceType": "Observation"}, "facts": {"patients": ["p1"], "patient_data": true}}
	d := request.decision with input as f.request_input(inp)
	d.allow
	d.obligations.narrow.patient == "p1"
}

test_page_continuation_is_allowed_without_narrowing_for_patients if {
	d := decide(f.patient_principal, f.request("search-continue", null, null))
	d.allow
	not d.obligations.narrow
	not d.obligations.release_total
}

test_page_continuation_needs_a_search_permission if {
	p := f.principal([f.scope("patient", "Observation", "r")], [], "p1")
	not decide(p, f.request("search-continue", null, null)).allow
}

test_counts_released_only_for_a_patient_s_own_narrowed_search if {
	decide(f.patient_principal, f.request("search-type", "Observation", null)).obligations.release_total
	not decide(f.clinician, f.request("search-type", "Observation", null)).obligations.release_total
	not decide(f.researcher, f.request("search-type", "Observation", null)).obligations.release_total
}

test_counts_not_released_under_granular_scopes if {
	p := f.principal([f.granular("user", "Observation", "rs", "category", "laboratory")], ["clinician"], null)
	d := decide(p, f.request("search-type", "Observation", null))
	d.allow
	not d.obligations.release_total
}

test_patient_everything_on_own_record if {
	req := object.union(f.request("operation", "Patient", "p1"), {"operation": "everything"})
	decide(f.patient_principal, req).allow
}

test_patient_everything_on_other_record_denied if {
	req := object.union(f.request("operation", "Patient", "p2"), {"operation": "everything"})
	d := decide(f.patient_principal, req)
	not d.allow
	reasons.compartment_other_patient in d.reasons
}

test_everything_needs_a_wildcard_scope if {
	p := f.principal([f.scope("patient", "Patient", "rs")], [], "p1")
	req := object.union(f.request("operation", "Patient", "p1"), {"operation": "everything"})
	d := decide(p, req)
	not d.allow
	reasons.scope_missing in d.reasons
}

test_everything_only_at_instance_level_on_patient if {
	req := object.union(f.request("operation", "Observation", null), {"operation": "everything"})
	d := decide(f.clinician, req)
	not d.allow
	reasons.operation_not_allowed in d.reasons
}

test_researcher_is_read_only if {
	p := f.principal_for([f.scope("user", "*", "cruds")], ["researcher"], null, ["HRESCH"])
	d := decide(p, f.request("create", "Observation", null))
	not d.allow
	reasons.role_type_not_permitted in d.reasons
}

test_batch_container_allowed_for_any_scoped_principal if {
	decide(f.patient_principal, f.request("batch", null, null)).allow
	not decide(f.principal([], [], null), f.request("batch", null, null)).allow
}

test_unlisted_operation_refused if {
	req := object.union(f.request("operation", null, null), {"operation": "graphql"})
	d := decide(f.clinician, req)
	not d.allow
	reasons.operation_not_allowed in d.reasons
}

test_no_scopes_denied if {
	d := decide(f.principal([], [], null), f.request("read", "Patient", "p1"))
	not d.allow
}

# ---- protections (noninterference issue, point 3) ----

protection_input(principal, interaction, type, resource, current) := i if {
	base := {"principal": principal, "request": object.union(f.request(interaction, type, "x1"), {"method": "PUT"}), "env": f.env}
	with_resource := object.union(base, {"resource": resource, "facts": {"patients": ["p1"], "patient_data": true}})
	i := object.union(with_resource, {"current": current, "current_facts": {"patients": ["p1"], "patient_data": true}})
}

labelled(code) := {"resourceType": "Observation", "id": "x1", "subject": {"reference": "Patient/p1"}, "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code}]}}

unlabelled := {"resourceType": "Observation", "id": "x1", "subject": {"reference": "Patient/p1"}}

test_removing_a_label_needs_a_role_that_manages_protections if {
	d := request.decision with input as f.request_input(protection_input(f.clinician_treating, "update", "Observation", unlabelled, labelled("PSY")))
	not d.allow
	reasons.protection_not_permitted in d.reasons
}

test_privacy_officer_removes_a_label_and_it_is_flagged_for_review if {
	d := request.decision with input as f.request_input(protection_input(f.privacy_officer, "patch", "Observation", unlabelled, labelled("PSY")))
	d.allow
	d.obligations.audit.protection_change
}

test_keeping_labels_is_no_protection_change if {
	d := request.decision with input as f.request_input(protection_input(f.clinician_treating, "update", "Observation", labelled("PSY"), labelled("PSY")))
	d.allow
	not d.obligations.audit
}

test_changing_the_code_that_implies_a_label_is_a_protection_change if {
	hiv := object.union(unlabelled, {"code": {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]}})
	other := object.union(unlabelled, {"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}})
	d := request.decision with input as f.request_input(protection_input(f.clinician_treating, "patch", "Observation", other, hiv))
	not d.allow
	reasons.protection_not_permitted in d.reasons
}

consent_of(patient) := {"resourceType": "Consent", "id": "c1", "patient": {"reference": sprintf("Patient/%s", [patient])}}

test_clinician_cannot_delete_a_consent if {
	d := request.decision with input as f.request_input({
		"principal": f.clinician_treating, "request": object.union(f.request("delete", "Consent", "c1"), {"method": "DELETE"}), "env": f.env,
		"current": consent_of("p1"), "current_facts": {"patients": ["p1"], "patient_data": true},
	})
	not d.allow
	reasons.protection_not_permitted in d.reasons
}

test_clinician_cannot_create_a_consent if {
	d := request.decision with input as f.request_input({
		"principal": f.clinician_treating, "request": object.union(f.request("create", "Consent", null), {"method": "POST"}), "env": f.env,
		"resource": consent_of("p1"), "facts": {"patients": ["p1"], "patient_data": true},
	})
	not d.allow
	reasons.protection_not_permitted in d.reasons
}

patient_rw := f.principal([f.scope("patient", "*", "cruds")], ["patient"], "p1")

test_patient_manages_own_consent if {
	d := request.decision with input as f.request_input({
		"principal": patient_rw, "request": object.union(f.request("create", "Consent", null), {"method": "POST"}), "env": f.env,
		"resource": consent_of("p1"), "facts": {"patients": ["p1"], "patient_data": true},
	})
	d.allow
	d.obligations.audit.protection_change
}

test_patient_cannot_change_another_patients_consent if {
	d := request.decision with input as f.request_input({
		"principal": patient_rw, "request": object.union(f.request("update", "Consent", "c1"), {"method": "PUT"}), "env": f.env,
		"resource": consent_of("p1"), "facts": {"patients": ["p1"], "patient_data": true},
		"current": consent_of("p2"), "current_facts": {"patients": ["p2"], "patient_data": true},
	})
	not d.allow
	reasons.protection_not_permitted in d.reasons
}

test_privacy_officer_deletes_a_consent if {
	d := request.decision with input as f.request_input({
		"principal": f.privacy_officer, "request": object.union(f.request("delete", "Consent", "c1"), {"method": "DELETE"}), "env": f.env,
		"current": consent_of("p1"), "current_facts": {"patients": ["p1"], "patient_data": true},
	})
	d.allow
	d.obligations.audit.protection_change
}

# ---- decisions that do not depend on data ----

test_break_glass_without_reason_is_refused_on_the_request if {
	p := f.principal_for([f.scope("user", "*", "rs")], ["clinician"], null, ["BTG"])
	d := decide(p, f.request("read", "Observation", "o1"))
	not d.allow
	reasons.break_glass_reason_missing in d.reasons
}

test_billing_search_names_the_redactions_criteria_must_respect if {
	d := decide(f.billing, f.request("search-type", "Encounter", null))
	d.allow
	{"path": "Encounter.reasonCode", "action": "remove"} in d.obligations.redact
}

test_researcher_search_names_safe_harbor if {
	d := decide(f.researcher, f.request("search-type", "Patient", null))
	d.allow
	{"path": "*", "action": "safe-harbor"} in d.obligations.redact
}

test_researcher_under_a_data_use_agreement_search_names_limited_data_set if {
	d := decide(f.researcher_dua, f.request("search-type", "Patient", null))
	d.allow
	d.obligations.redact == [{"path": "*", "action": "limited-data-set"}]
}

test_researcher_under_a_data_use_agreement_is_read_only if {
	p := f.principal_for([f.scope("user", "*", "cruds")], ["researcher-dua"], null, ["HRESCH"])
	d := decide(p, f.request("create", "Observation", null))
	not d.allow
	"role.type-not-permitted" in d.reasons
}

test_clinician_search_names_no_redactions if {
	d := decide(f.clinician_treating, f.request("search-type", "Observation", null))
	d.allow
	not d.obligations.redact
}

test_removing_an_explicit_label_a_code_still_implies_is_a_protection_change if {
	hiv_code := {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]}
	d := request.decision with input as f.request_input(protection_input(f.clinician_treating, "patch", "Observation", object.union(unlabelled, {"code": hiv_code}), object.union(labelled("HIV"), {"code": hiv_code})))
	not d.allow
	reasons.protection_not_permitted in d.reasons
}

# ---- access history ----

history_search(params) := object.union(f.request("search-type", "AuditEvent", null), {"params": params})

test_patient_reads_own_access_history_with_staff_as_role_and_organisation if {
	d := decide(f.patient_principal, history_search([]))
	d.allow
	d.obligations.history == {"patient": "p1", "staff": "role-organisation", "organisation": "the care provider"}
}

test_patient_naming_own_patient_reads_history if {
	d := decide(f.patient_principal, history_search([{"name": "patient", "modifier": null, "value": "Patient/p1", "values": ["Patient/p1"]}]))
	d.allow
}

test_patient_cannot_read_another_patients_history if {
	d := decide(f.patient_principal, history_search([{"name": "patient", "modifier": null, "value": "p1,p2", "values": ["p1", "p2"]}]))
	not d.allow
	"compartment.other-patient" in d.reasons
}

test_privacy_officer_reads_every_history_with_names if {
	d := decide(f.privacy_officer, history_search([]))
	d.allow
	d.obligations.history == {"patient": null, "staff": "names", "organisation": "the care provider"}
}

test_clinician_cannot_read_access_history if {
	d := decide(f.clinician, history_search([]))
	not d.allow
	"history.not-permitted" in d.reasons
}
