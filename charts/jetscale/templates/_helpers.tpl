{{/*
Chart name, or nameOverride; at most 63 characters.
*/}}
{{- define "jetscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: fullnameOverride; else the release name when it already contains the chart name;
else <release>-<name>. At most 63 characters.
*/}}
{{- define "jetscale.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "jetscale.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
<chart>-<version>, as used by the helm.sh/chart label.
*/}}
{{- define "jetscale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jetscale.labels" -}}
helm.sh/chart: {{ include "jetscale.chart" . }}
{{ include "jetscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "jetscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jetscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Prefix of every secret path: externalSecret.awsSecretPrefix, else <client_name>-<env>. Fails
when neither can be formed, or when the result would produce malformed paths.
*/}}
{{- define "jetscale.aws-name-prefix" -}}
{{- $prefix := .Values.externalSecret.awsSecretPrefix | default "" | toString -}}
{{- if not $prefix -}}
{{- if or (not .Values.global.client_name) (not .Values.global.env) -}}
{{- fail "charts/jetscale: externalSecret is enabled but no secret prefix can be formed; set externalSecret.awsSecretPrefix, or both global.client_name and global.env (prefix <client_name>-<env>)" -}}
{{- end -}}
{{- $prefix = printf "%s-%s" .Values.global.client_name .Values.global.env -}}
{{- end -}}
{{- if or (hasPrefix "/" $prefix) (hasSuffix "/" $prefix) (contains "//" $prefix) -}}
{{- fail (printf "charts/jetscale: externalSecret.awsSecretPrefix %q must not start or end with '/' or contain '//'" $prefix) -}}
{{- end -}}
{{- $prefix -}}
{{- end -}}

{{/*
Validates one secret path. Input: dict "path" and "what" (the values key it comes from).
*/}}
{{- define "jetscale.secretPath" -}}
{{- $path := .path | default "" | toString -}}
{{- if or (not $path) (hasPrefix "/" $path) (hasSuffix "/" $path) (contains "//" $path) -}}
{{- fail (printf "charts/jetscale: secret path %q for %s is empty, starts or ends with '/' or contains '//'" $path .what) -}}
{{- end -}}
{{- $path -}}
{{- end -}}

{{/*
Project name, required wherever a per-project path or database name is derived.
*/}}
{{- define "jetscale.projectName" -}}
{{- if not .Values.global.project_name -}}
{{- fail "charts/jetscale: global.project_name is empty; the database secret path (<prefix>/database/<project_name>) and the bootstrap database name need it. Set global.project_name, or set externalSecret.db.secretPath and bootstrap dbName, or disable externalSecret.db" -}}
{{- end -}}
{{- .Values.global.project_name -}}
{{- end -}}

{{/*
Path of the project's database secret, read by the db ExternalSecret and written by the
bootstrap Job.
*/}}
{{- define "jetscale.dbSecretPath" -}}
{{- $path := .Values.externalSecret.db.secretPath -}}
{{- if not $path -}}
{{- $path = printf "%s/database/%s" (include "jetscale.aws-name-prefix" .) (include "jetscale.projectName" .) -}}
{{- end -}}
{{- include "jetscale.secretPath" (dict "path" $path "what" "externalSecret.db") -}}
{{- end -}}

{{/*
Name of the SecretStore rendered by this chart.
*/}}
{{- define "jetscale.secretStoreName" -}}
{{- printf "%s-secrets-store" .Release.Name -}}
{{- end -}}

{{/*
Name of the ServiceAccount used by the SecretStore and the bootstrap Job.
*/}}
{{- define "jetscale.externalSecretsServiceAccountName" -}}
{{- printf "%s-external-secrets" .Release.Name -}}
{{- end -}}

{{/*
Public hosts: the ingress host keys, sorted, when the Ingress is enabled.
Output: a comma-separated list (empty when there is none).
*/}}
{{- define "jetscale.publicHosts" -}}
{{- if .Values.ingress.enabled -}}
{{- keys (.Values.ingress.hosts | default dict) | sortAlpha | join "," -}}
{{- end -}}
{{- end -}}

{{/*
CORS origins: https://<host> for every public host, then the local frontend dev server.
*/}}
{{- define "jetscale.corsAllowedOrigins" -}}
{{- $origins := list -}}
{{- range $host := splitList "," (include "jetscale.publicHosts" .) -}}
{{- if $host }}{{ $origins = append $origins (printf "https://%s" $host) }}{{ end -}}
{{- end -}}
{{- $origins = append $origins "http://localhost:3000" -}}
{{- join "," $origins -}}
{{- end -}}

{{/*
URL of the frontend: https://<first public host>, else the local dev server. No trailing slash.
*/}}
{{- define "jetscale.frontendUrl" -}}
{{- $hosts := include "jetscale.publicHosts" . -}}
{{- if $hosts -}}
{{- printf "https://%s" (first (splitList "," $hosts)) -}}
{{- else -}}
http://localhost:3000
{{- end -}}
{{- end -}}

{{/*
Backend Service of an Ingress path or HTTPRoute backend: serviceName as given, else
<release>-<serviceNameSuffix>. Input: dict "root", "ref", "where".
*/}}
{{- define "jetscale.backendServiceName" -}}
{{- if .ref.serviceName -}}
{{- .ref.serviceName -}}
{{- else if .ref.serviceNameSuffix -}}
{{- printf "%s-%s" .root.Release.Name .ref.serviceNameSuffix -}}
{{- else -}}
{{- fail (printf "charts/jetscale: %s needs serviceName or serviceNameSuffix" .where) -}}
{{- end -}}
{{- end -}}
