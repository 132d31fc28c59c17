package fhirgw.tests.request

import data.fhirgw.request
import data.fhirgw.tests.fixtures as f

decide(principal, req) := d if {
	d := request.decision with input as {"principal": principal, "request": req, "env": f.env}
}

test_patient_reads_own_patient_record if {
	d := decide(f.patient_principal, f.request("read", "Patient", "p1"))
	d.allow
	d.reasons == ["scope.ok"]
}

test_patient_cannot_read_other_patient_record if {
	d := decide(f.patient_principal, f.request("read", "Patient", "p2"))
	not d.allow
	"compartment.other-patient" in d.reasons
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

test_patient_compartment_search_of_other_patient_denied if {
	req := object.union(f.request("search-compartment", "Observation", null), {"compartment": {"type": "Patient", "id": "p2"}})
	d := decide(f.patient_principal, req)
	not d.allow
	"compartment.other-patient" in d.reasons
}

test_patient_system_search_cannot_be_narrowed if {
	d := decide(f.patient_principal, f.request("search-system", null, null))
	not d.allow
	"compartment.cannot-narrow" in d.reasons
}

test_patient_scope_without_patient_in_context_denied if {
	p := object.union(f.patient_principal, {"patient": null})
	d := decide(p, f.request("read", "Observation", "o1"))
	not d.allow
	"launch.no-patient" in d.reasons
}

test_missing_scope_is_reported if {
	p := f.principal([f.scope("patient", "Observation", "rs")], [], "p1")
	d := decide(p, f.request("read", "Condition", "c1"))
	not d.allow
	d.reasons == ["scope.missing"]
}

test_read_scope_does_not_grant_search if {
	p := f.principal([f.scope("user", "Observation", "r")], [], null)
	d := decide(p, f.request("search-type", "Observation", null))
	not d.allow
	"scope.missing" in d.reasons
}

test_granular_scope_grants_the_search if {
	p := f.principal([f.granular("user", "Observation", "rs", "category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory")], [], null)
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
		"resource": {"resourceType": "Observation"}, "facts": {"patients": ["p1"], "patient_compartment": true},
	}
	d := request.decision with input as inp
	d.allow
}

test_patient_cannot_create_in_other_compartment if {
	p := f.principal([f.scope("patient", "Observation", "c")], [], "p1")
	inp := {
		"principal": p, "request": f.request("create", "Observation", null), "env": f.env,
		"resource": {"resourceType": "Observation"}, "facts": {"patients": ["p1", "p2"], "patient_compartment": true},
	}
	d := request.decision with input as inp
	not d.allow
	"compartment.other-patient" in d.reasons
}

test_patient_update_refused_until_stored_resource_is_checked if {
	p := f.principal([f.scope("patient", "Observation", "u")], [], "p1")
	d := decide(p, f.request("update", "Observation", "o1"))
	not d.allow
	"write.patient-context-unsupported" in d.reasons
}

test_researcher_is_read_only if {
	p := f.principal([f.scope("user", "*", "cruds")], ["researcher"], null)
	d := decide(p, f.request("create", "Observation", null))
	not d.allow
	"role.read-only" in d.reasons
}

test_batch_refused if {
	d := decide(f.clinician, f.request("batch", null, null))
	not d.allow
	"batch.unsupported" in d.reasons
}

test_unlisted_operation_refused if {
	req := object.union(f.request("operation", "Patient", "p1"), {"operation": "everything"})
	d := decide(f.clinician, req)
	not d.allow
	"operation.not-allowed" in d.reasons
}

test_no_scopes_denied if {
	d := decide(f.principal([], [], null), f.request("read", "Patient", "p1"))
	not d.allow
}
