{{/*
The chart name, or nameOverride.
*/}}
{{- define "catchpoint-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, else the release name (plus the chart name
unless the release name already contains it). Kept short enough for the longest suffix.
*/}}
{{- define "catchpoint-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "catchpoint-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object (the CRD keeps its generated ones). The operator's pods add
app.kubernetes.io/component=operator, which keeps them apart from the bridge pods the operator
creates (app.kubernetes.io/name=catchpoint-bridge, component=bridge).
*/}}
{{- define "catchpoint-bridge.labels" -}}
helm.sh/chart: {{ include "catchpoint-bridge.chart" . }}
app.kubernetes.io/name: {{ include "catchpoint-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: catchpoint-bridge
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "catchpoint-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catchpoint-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Labels of operator objects: the common ones plus the component.
*/}}
{{- define "catchpoint-bridge.operatorLabels" -}}
{{ include "catchpoint-bridge.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "catchpoint-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "catchpoint-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "catchpoint-bridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The image the operator gives bridges: bridge.image, else the operator's own image.
*/}}
{{- define "catchpoint-bridge.bridgeImage" -}}
{{- default (include "catchpoint-bridge.image" .) .Values.bridge.image }}
{{- end }}
