{{/* Chart name, at most 63 characters. */}}
{{- define "bss-budget-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: "<release>-<chart>", or the release name when it contains the chart name. */}}
{{- define "bss-budget-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's namespace. */}}
{{- define "bss-budget-operator.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name }}
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "bss-budget-operator.serviceAccountName" -}}
{{- include "bss-budget-operator.fullname" . }}-controller-manager
{{- end }}

{{/* Labels of every resource. */}}
{{- define "bss-budget-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "bss-budget-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bss-budget-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels selecting the manager's pods (a subset of the pods' labels: "labels" plus control-plane). */}}
{{- define "bss-budget-operator.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "bss-budget-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the metrics Service port: https or http. */}}
{{- define "bss-budget-operator.metricsPortName" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end }}
{{- end }}
