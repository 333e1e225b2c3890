{{/* Names and labels. */}}
{{- define "quarry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "quarry.fullname" -}}
{{- if contains (include "quarry.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "quarry.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "quarry.labels" -}}
app.kubernetes.io/name: {{ include "quarry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "quarry.selector" -}}
app.kubernetes.io/name: {{ include "quarry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "quarry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "quarry.envConfigMap" -}}
{{- printf "%s-quarry-env" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "quarry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "quarry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
S3 credentials as environment variables: secretKeyRef into an existing Secret, never literal values.
With source "none" nothing is injected (IRSA / workload identity).
*/}}
{{- define "quarry.s3CredentialsEnv" -}}
{{- $c := .Values.s3.credentials -}}
{{- if eq $c.source "secret" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ required "s3.credentials.existingSecret is required when s3.credentials.source is \"secret\" (create the Secret with kubectl; never put keys in values)" $c.existingSecret | quote }}
      key: {{ $c.accessKeyIdKey | quote }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $c.existingSecret | quote }}
      key: {{ $c.secretAccessKeyKey | quote }}
{{- else if ne $c.source "none" }}
{{- fail (printf "s3.credentials.source must be \"secret\" or \"none\", got %q" $c.source) }}
{{- end }}
{{- end -}}

{{/* Everything a Quarry process needs: the ConfigMap plus the credentials. */}}
{{- define "quarry.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "quarry.envConfigMap" . }}
{{- with include "quarry.s3CredentialsEnv" . }}
env:
{{- . | nindent 2 }}
{{- end }}
{{- end -}}
