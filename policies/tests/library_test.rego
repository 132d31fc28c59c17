# Table tests for the policy library: roles, purposes of use, sensitivity labels, break-the-glass
# and Consent, each through the resource (and where it applies, the request) decision.
package fhirgw.tests.library

import data.fhirgw.lib.reasons
import data.fhirgw.request
import data.fhirgw.resource
import data.fhirgw.tests.fixtures as f

LOINC_HIV := "http://loinc.org"

obs(patient, extra) := object.union({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}, "subject": {"reference": sprintf("Patient/%s", [patient])}}, extra)

hiv_labelled := obs("p1", {"meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]}})

hiv_by_code := obs("p1", {"code": {"coding": [{"system": LOINC_HIV, "code": "75622-1"}]}})

decide(principal, res, consents) := d if {
	d := resource.decision with input as f.resource_input({
		"principal": principal, "request": f.request("search-type", res.resourceType, null), "env": f.env,
		"resource": res, "facts": {"patients": ["p1"], "patient_data": true, "data_date": object.get(res, "effectiveDateTime", null)},
		"consents": consents,
	})
}

decide_request(principal, interaction, type) := d if {
	d := request.decision with input as f.request_input({"principal": principal, "request": f.request(interaction, type, null), "env": f.env})
}

# ---- roles ----

billing := f.principal_for([f.scope("user", "*", "cruds")], ["billing"], null, ["HPAYMT"])

test_billing_reads_demographics_and_claims_without_notes if {
	d := decide(billing, {"resourceType": "Patient", "id": "p1"}, {})
	d.allow
	{"path": "*", "action": "free-text"} in d.obligations.redact
	decide(billing, {"resourceType": "ExplanationOfBenefit", "id": "e1"}, {}).allow
}

test_billing_does_not_see_clinical_detail if {
	d := decide(billing, obs("p1", {}), {})
	not d.allow
	d.reasons == [reasons.role_type_not_permitted]
	reasons.role_type_not_permitted in decide_request(billing, "search-type", "Observation").reasons
}

test_encounters_lose_their_reasons_for_billing if {
	d := decide(billing, {"resourceType": "Encounter", "id": "e1"}, {})
	{"path": "Encounter.reasonCode", "action": "remove"} in d.obligations.redact
}

test_role_without_its_purpose_of_use_is_refused if {
	p := f.principal_for([f.scope("user", "*", "rs")], ["billing"], null, ["TREAT"])
	d := decide(p, {"resourceType": "Patient", "id": "p1"}, {})
	d.reasons == [reasons.purpose_missing]
	researcher := f.principal_for([f.scope("user", "*", "rs")], ["researcher"], null, [])
	reasons.purpose_missing in decide_request(researcher, "search-type", "Observation").reasons
}

test_admin_sees_no_clinical_data if {
	admin := f.principal([f.scope("user", "*", "cruds")], ["admin"], null)
	decide(admin, {"resourceType": "Practitioner", "id": "pr1"}, {}).allow
	not decide(admin, {"resourceType": "Patient", "id": "p1"}, {}).allow
	reasons.role_type_not_permitted in decide_request(admin, "read", "Patient").reasons
}

test_nurse_writes_only_nursing_documentation if {
	nurse := f.principal([f.scope("user", "*", "cruds")], ["nurse"], null)
	decide_request(nurse, "create", "Observation").allow
	reasons.role_type_not_permitted in decide_request(nurse, "create", "MedicationRequest").reasons
}

# Exclusions in data: "read everything but", "write everything but", without listing 145 types.
excluding := object.union(data.fhirgw.roles, {"nurse-restricted": {
	"read": ["*"],
	"read_except": ["MedicationRequest", "MedicationStatement"],
	"write": ["*"],
	"write_except": ["Consent", "MedicationRequest"],
	"labels": [],
}})

restricted_nurse := f.principal([f.scope("user", "*", "cruds")], ["nurse-restricted"], null)

test_read_except_withholds_the_excluded_types_only if {
	reasons.role_type_not_permitted in decide_request(restricted_nurse, "read", "MedicationRequest").reasons with data.fhirgw.roles as excluding
	reasons.role_type_not_permitted in decide_request(restricted_nurse, "search-type", "MedicationStatement").reasons with data.fhirgw.roles as excluding
	d := decide(restricted_nurse, {"resourceType": "MedicationRequest", "id": "m1", "subject": {"reference": "Patient/p1"}}, {}) with data.fhirgw.roles as excluding
	not d.allow
	d.reasons == [reasons.role_type_not_permitted]
	decide_request(restricted_nurse, "read", "Observation").allow with data.fhirgw.roles as excluding
	decide(restricted_nurse, obs("p1", {}), {}).allow with data.fhirgw.roles as excluding
}

test_write_except_refuses_the_excluded_types_only if {
	reasons.role_type_not_permitted in decide_request(restricted_nurse, "create", "MedicationRequest").reasons with data.fhirgw.roles as excluding
	decide_request(restricted_nurse, "create", "Observation").allow with data.fhirgw.roles as excluding

	# Reading a type excluded from writes is still granted by `read`.
	decide_request(restricted_nurse, "read", "Consent").allow with data.fhirgw.roles as excluding
}

test_an_exclusion_is_the_role_s_own_another_role_still_grants if {
	both := f.principal([f.scope("user", "*", "cruds")], ["nurse-restricted", "clinician"], null)
	decide_request(both, "read", "MedicationRequest").allow with data.fhirgw.roles as excluding
	decide_request(both, "create", "MedicationRequest").allow with data.fhirgw.roles as excluding
}

test_user_token_without_a_known_role_is_refused if {
	nobody := f.principal([f.scope("user", "*", "rs")], ["visitor"], null)
	reasons.role_none in decide_request(nobody, "read", "Patient").reasons
	decide(nobody, {"resourceType": "Patient", "id": "p1"}, {}).reasons == [reasons.role_none]
}

test_backend_service_without_roles_gets_the_system_role if {
	decide(f.system_service, obs("p1", {}), {}).allow
	not decide(f.system_service, hiv_labelled, {}).allow
}

# ---- sensitivity labels and break-the-glass ----

test_labelled_sensitive_data_is_withheld_from_clinicians if {
	d := decide(f.clinician, hiv_labelled, {})
	not d.allow
	d.reasons == [reasons.label_sensitive]
}

test_unlabelled_data_with_a_sensitive_code_is_withheld_too if {
	d := decide(f.clinician, hiv_by_code, {})
	d.reasons == [reasons.label_sensitive]
	decide(f.clinician, obs("p1", {"code": {"coding": [{"system": LOINC_HIV, "code": "8867-4"}]}}), {}).allow
}

test_the_patient_sees_their_own_sensitive_data if {
	decide(f.patient_principal, hiv_labelled, {}).allow
	decide(f.patient_principal, hiv_by_code, {}).allow
}

test_a_role_granted_the_label_sees_it if {
	roles := object.union(data.fhirgw.roles, {"hiv-specialist": {"read": ["*"], "write": [], "labels": ["HIV"]}})
	p := f.principal([f.scope("user", "*", "rs")], ["hiv-specialist"], null)
	d := decide(p, hiv_labelled, {}) with data.fhirgw.roles as roles
	d.allow
}

test_break_the_glass_opens_sensitive_data_and_marks_the_decision if {
	btg := f.break_glass_clinician(["TREAT", "BTG"])
	d := decide(btg, hiv_labelled, {})
	d.allow
	d.obligations.audit.break_glass
	reasons.break_glass in d.reasons
	etreat := f.break_glass_clinician(["ETREAT"])
	decide(etreat, hiv_by_code, {}).obligations.audit.break_glass
}

test_break_the_glass_is_not_marked_when_nothing_needed_it if {
	btg := f.break_glass_clinician(["BTG"])
	d := decide(btg, obs("p1", {}), {})
	d.allow
	not d.obligations.audit
}

test_break_the_glass_needs_a_stated_reason if {
	no_reason := f.principal_for([f.scope("user", "*", "rs")], ["clinician"], null, ["BTG"])
	d := decide(no_reason, hiv_labelled, {})
	not d.allow
	reasons.break_glass_reason_missing in d.reasons
	reasons.label_sensitive in d.reasons
	not d.obligations.audit
}

test_a_deployment_may_waive_the_stated_reason if {
	no_reason := f.principal_for([f.scope("user", "*", "rs")], ["clinician"], null, ["BTG"])
	d := decide(no_reason, hiv_labelled, {}) with data.fhirgw.config.break_glass_requires_reason as false
	d.allow
	d.obligations.audit.break_glass
}

test_a_missing_reason_is_not_mentioned_when_nothing_was_restricted if {
	no_reason := f.principal_for([f.scope("user", "*", "rs")], ["clinician"], null, ["BTG"])
	d := decide(no_reason, obs("p1", {}), {})
	d.allow
	not reasons.break_glass_reason_missing in d.reasons
}

test_break_the_glass_is_for_treating_roles_only if {
	p := f.principal_for([f.scope("user", "*", "rs")], ["researcher"], null, ["HRESCH", "BTG"])
	not decide(p, hiv_labelled, {}).allow
}

# ---- consent ----

cond(over) := object.union({"actors": [], "actor_roles": [], "purposes": [], "labels": [], "classes": [], "codes": [], "data_period": null}, over)

consent(scope, base, rules) := {"id": "c1", "scope": scope, "date": null, "base": base, "rules": rules}

rule(type, depth, conditions) := {"type": type, "depth": depth, "conditions": conditions}

for_p1(consents) := {"p1": {"status": "ok", "consents": consents}}

test_opt_out_of_research_excludes_the_patient_from_research_only if {
	c := for_p1([consent("research", "deny", [])])
	d := decide(f.researcher, obs("p1", {}), c)
	d.reasons == [reasons.consent_deny_research]
	decide(f.clinician, obs("p1", {}), c).allow
}

test_deny_a_named_practitioner if {
	c := for_p1([consent("patient-privacy", "permit", [rule("deny", 1, [cond({}), cond({"actors": ["Practitioner/9"]})])])])
	d := decide(f.practitioner("9", ["clinician"], ["TREAT"]), obs("p1", {}), c)
	d.reasons == [reasons.consent_deny_actor]
	decide(f.practitioner("19", ["clinician"], ["TREAT"]), obs("p1", {}), c).allow
}

test_deny_a_category_of_data if {
	c := for_p1([consent("patient-privacy", "permit", [rule("deny", 1, [cond({}), cond({"classes": ["Observation"]})])])])
	d := decide(f.clinician, obs("p1", {}), c)
	d.reasons == [reasons.consent_deny_class]
	decide(f.clinician, {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}}, c).allow
}

test_permit_only_for_treatment if {
	c := for_p1([consent("patient-privacy", "deny", [rule("permit", 1, [cond({}), cond({"purposes": ["TREAT"]})])])])
	decide(f.practitioner("9", ["clinician"], ["TREAT"]), obs("p1", {}), c).allow
	d := decide(billing, {"resourceType": "Patient", "id": "p1"}, c)
	d.reasons == [reasons.consent_deny_base]
}

test_the_most_specific_provision_wins if {
	# Deny Observations, except (nested) the glucose code.
	glucose := "http://loinc.org|2339-0"
	c := for_p1([consent("patient-privacy", "permit", [
		rule("deny", 1, [cond({}), cond({"classes": ["Observation"]})]),
		rule("permit", 2, [cond({}), cond({"classes": ["Observation"]}), cond({"codes": [glucose]})]),
	])])
	decide(f.clinician, obs("p1", {"code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]}}), c).allow
	not decide(f.clinician, obs("p1", {}), c).allow
}

test_a_data_period_limits_a_provision_to_data_of_that_time if {
	c := for_p1([consent("patient-privacy", "permit", [rule("deny", 1, [cond({}), cond({"data_period": {"start": "2020-01-01", "end": "2020-12-31"}})])])])
	d := decide(f.clinician, obs("p1", {"effectiveDateTime": "2020-06-01T00:00:00Z"}), c)
	d.reasons == [reasons.consent_deny_period]
	decide(f.clinician, obs("p1", {"effectiveDateTime": "2026-06-01T00:00:00Z"}), c).allow
}

test_consents_that_cannot_be_read_refuse if {
	d := decide(f.clinician, obs("p1", {}), {"p1": {"status": "unavailable"}})
	d.reasons == [reasons.consent_unavailable]
}

test_consent_can_release_sensitive_data_to_a_named_practitioner if {
	c := for_p1([consent("patient-privacy", "permit", [rule("permit", 1, [cond({}), cond({"actors": ["https://ehr.example/fhir/Practitioner/9"], "labels": ["HIV"]})])])])
	decide(f.practitioner("9", ["clinician"], ["TREAT"]), hiv_labelled, c).allow
	not decide(f.practitioner("19", ["clinician"], ["TREAT"]), hiv_labelled, c).allow
}

test_a_consent_never_restricts_the_patient if {
	c := for_p1([consent("patient-privacy", "deny", [])])
	decide(f.patient_principal, obs("p1", {}), c).allow
}

test_break_the_glass_overrides_a_consent_refusal_and_says_so if {
	c := for_p1([consent("patient-privacy", "deny", [])])
	btg := f.break_glass_clinician(["ETREAT"])
	d := decide(btg, obs("p1", {}), c)
	d.allow
	d.obligations.audit.break_glass
}
