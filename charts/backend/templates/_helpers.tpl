{{/*
Chart name: the alias when installed as a dependency, or nameOverride.
*/}}
{{- define "backend.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: fullnameOverride, else <release>-<name>. Always release-prefixed so two releases can
share a namespace.
*/}}
{{- define "backend.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "backend.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "backend.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Identity labels shared by every object of the chart. The pods of the Deployment add
component=server and are selected by it, so job pods never receive Service traffic.
*/}}
{{- define "backend.selectorLabels" -}}
app.kubernetes.io/name: {{ include "backend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "backend.labels" -}}
helm.sh/chart: {{ include "backend.chart" . }}
{{ include "backend.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "backend.serviceAccountName" -}}
{{- $name := tpl (.Values.serviceAccount.name | default "" | toString) . -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "backend.fullname" .) $name -}}
{{- else -}}
{{- default "default" $name -}}
{{- end -}}
{{- end -}}

{{- define "backend.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{/*
env map -> list, sorted by name; null values are dropped.
*/}}
{{- define "backend.env" -}}
{{- range $name, $value := .Values.env }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
envFrom map -> list. Input: dict with "root" (the chart context) and "refs" (map key -> kind).
Each key refers to the object <release>-<key>; false or null drops it. ConfigMaps come first and
Secrets after them (each group sorted by key), so a Secret wins over a ConfigMap on a shared key.
*/}}
{{- define "backend.envFrom" -}}
{{- $root := .root -}}
{{- $refs := .refs | default dict -}}
{{- range $key, $kind := $refs }}
{{- if and (not (kindIs "invalid" $kind)) (ne (toString $kind) "false") (not (has (toString $kind) (list "configMapRef" "secretRef"))) }}
{{- fail (printf "backend: envFrom.%s is %v; use configMapRef, secretRef or false" $key $kind) }}
{{- end }}
{{- end }}
{{- range $group := list "configMapRef" "secretRef" }}
{{- range $key, $kind := $refs }}
{{- if eq (toString $kind) $group }}
- {{ $group }}:
    name: {{ printf "%s-%s" $root.Release.Name $key }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Per-job envFrom: the container's map with the job's keys laid over it.
*/}}
{{- define "backend.jobEnvFrom" -}}
{{- $refs := dict -}}
{{- range $k, $v := (.root.Values.envFrom | default dict) }}{{ $_ := set $refs $k $v }}{{ end -}}
{{- range $k, $v := (.job.envFrom | default dict) }}{{ $_ := set $refs $k $v }}{{ end -}}
{{- include "backend.envFrom" (dict "root" .root "refs" $refs) -}}
{{- end -}}

{{/*
True ("true") when a map entry is switched on: present, not null, not false, enabled != false.
*/}}
{{- define "backend.isOn" -}}
{{- if and (not (kindIs "invalid" .)) (ne (toString .) "false") -}}
{{- if or (not (kindIs "map" .)) (ne (toString (index . "enabled")) "false") -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Pod volumes, rendered through tpl so values can name release-prefixed objects.
*/}}
{{- define "backend.volumes" -}}
{{- with .Values.volumes }}
volumes:
  {{- tpl (toYaml .) $ | nindent 2 }}
{{- end }}
{{- end -}}
