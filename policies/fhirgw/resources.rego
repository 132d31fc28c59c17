# METADATA
# title: Batched resource decisions
# description: |
#   Applies fhirgw/resource/decision to every item of input.items in one evaluation, so a
#   1,000-entry Bundle costs one call into WebAssembly rather than 1,000. Policy authors do not
#   edit this file: they write fhirgw.resource.
package fhirgw.resources

decisions := [d |
	some item in input.items
	d := data.fhirgw.resource.decision with input.resource as item.resource with input.facts as item.facts
]
