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
	label := sensitivity.codes[concat("|", [object.get(coding, "system", ""), object.get(coding, "code", "")])]
}

codings(resource) := [c |
	some field in ["code", "valueCodeableConcept", "category", "medicationCodeableConcept", "reasonCode"]
	some concept in as_array(object.get(resource, field, []))
	some c in object.get(concept, "coding", [])
]

as_array(x) := x if is_array(x)

as_array(x) := [x] if not is_array(x)
