{{/* The objects' name: the release name when it already names the chart (helm install fhir-gateway ...). */}}
{{- define "fhir-gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selects this release's gateway pods (never widened: Deployment selectors are immutable). */}}
{{- define "fhir-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fhir-gateway.labels" -}}
{{ include "fhir-gateway.selectorLabels" . }}
app.kubernetes.io/part-of: fhir-privacy-gateway
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The configuration, parsed (the Ingress takes its host and path from publicBaseUrl). */}}
{{- define "fhir-gateway.config" -}}
{{- required "config is required: --set-file config=<gateway.yaml> (k8s/base/gateway.yaml, or an overlay's)" .Values.config -}}
{{- end -}}
