# METADATA
# title: Sensitivity labels
# description: |
#   The sensitivity of a resource (HL7 DS4P): the sensitive codes among its meta.security labels,
#   and labels implied by codes of data.fhirgw.sensitivity.codes (an HIV test result is sensitive
#   whether or not anyone labelled it).
# schemas:
#   - input: schema["policy-input.shared.schema"]
package fhirgw.lib.labels

import data.fhirgw.sensitivity as sensitivity

of(resource) := labelled(resource) | implied(resource)

labelled(resource) := {l.code |
	some l in object.get(object.get(resource, "meta", {}), "security", [])
	l.code in sensitivity.labels
}

implied(resource) := {label |
	some coding in codings(resource)
	label := codes_by_system[object.get(coding, "system", "")][coding.code]
}

# data.fhirgw.sensitivity.codes ("system|code": label) by system, then code: two lookups per coding
# instead of building a string for each (a 1,000-entry Bundle has thousands of codings).
codes_by_system := {system: {code: label |
	some key, label in sensitivity.codes
	[system, code] = split(key, "|")
} |
	some system in {split(key, "|")[0] | some key, _ in sensitivity.codes}
}

coded_elements := ["code", "valueCodeableConcept", "category", "medicationCodeableConcept", "reasonCode"]

# Only the elements present are visited (a lookup that fails skips the element).
codings(resource) := [c |
	some element in coded_elements
	some concept in as_array(resource[element])
	some c in concept.coding
]

as_array(x) := x if is_array(x)

as_array(x) := [x] if not is_array(x)
