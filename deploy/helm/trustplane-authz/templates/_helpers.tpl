{{- define "tp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "tp.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tp.labels" -}}
{{ include "tp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tp.image" -}}
{{- if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- else -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "tp.redisUrl" -}}
{{- if .Values.redis.externalUrl -}}{{ .Values.redis.externalUrl }}{{- else -}}redis://{{ include "tp.fullname" . }}-redis.{{ .Release.Namespace }}.svc.cluster.local:6379{{- end -}}
{{- end -}}

{{- define "tp.authzHost" -}}
{{ include "tp.fullname" . }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}

{{/* Values that would deploy an unsafe or broken server: refuse to render. */}}
{{- define "tp.checks" -}}
{{- if lt (int .Values.replicaCount) 2 -}}{{ fail "replicaCount: at least 2, so a node drain or rollout leaves a replica deciding" }}{{- end -}}
{{- if and .Values.gatewayApi.enabled .Values.server.bodyFilterHeader.trusted -}}{{ fail "gatewayApi: no wasm filter strips and rewrites the body-hash header on that path; set server.bodyFilterHeader.trusted=false (the gateway forwards the body instead)" }}{{- end -}}
{{- if not (has .Values.bundle.source (list "configMap" "secret")) -}}{{ fail "bundle.source: configMap or secret" }}{{- end -}}
{{- if and .Values.gatewayApi.enabled (not (has .Values.gatewayApi.authMode (list "ExternalAuthFilter" "EnvoyGatewaySecurityPolicy"))) -}}{{ fail "gatewayApi.authMode: ExternalAuthFilter or EnvoyGatewaySecurityPolicy (one check per request: both at once would consume each passport twice)" }}{{- end -}}
{{- end -}}

{{- define "tp.authzSelector" -}}
{{ include "tp.selectorLabels" . }}
app.kubernetes.io/component: authz
{{- end -}}
