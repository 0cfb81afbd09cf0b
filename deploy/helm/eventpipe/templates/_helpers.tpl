{{/* Object names start with the release name (at most 40 characters, so pod names stay under 63). */}}
{{- define "eventpipe.name" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- end -}}

{{- define "eventpipe.labels" -}}
app.kubernetes.io/name: eventpipe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: (list $ "node"). Never derived from values that change. */}}
{{- define "eventpipe.selector" -}}
app.kubernetes.io/name: eventpipe
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "eventpipe.image" -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}{{- end -}}

{{- define "eventpipe.secretName" -}}{{ default (printf "%s-secrets" (include "eventpipe.name" .)) .Values.secrets.existingSecret }}{{- end -}}

{{- define "eventpipe.nodesService" -}}{{ include "eventpipe.name" . }}-nodes{{- end -}}

{{/* The ports each role listens on (fixed: the contract tests check them against the launcher's defaults). */}}
{{- define "eventpipe.nodeInternalPort" -}}8081{{- end -}}
{{- define "eventpipe.proxyPort" -}}8080{{- end -}}
{{- define "eventpipe.proxyAdminPort" -}}8081{{- end -}}

{{/* Environment giving PIPELINE_CONTROL_URL without a password in the manifest. */}}
{{- define "eventpipe.controlUrlEnv" -}}
{{- if .Values.controlStore.enabled }}
- name: CONTROL_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.secretName" . }}, key: control-db-password}}
- name: PIPELINE_CONTROL_URL
  value: "postgresql://eventpipe:$(CONTROL_DB_PASSWORD)@{{ include "eventpipe.name" . }}-control.{{ .Release.Namespace }}.svc:5432/control"
{{- else }}
- name: PIPELINE_CONTROL_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.controlStore.external.existingSecret }}, key: {{ .Values.controlStore.external.urlKey }}}}
{{- end }}
{{- end -}}

{{/* The admin token opens the nodes' admin API and status: nodes only, never proxies. */}}
{{- define "eventpipe.adminTokenEnv" -}}
- name: PIPELINE_ADMIN_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.secretName" . }}, key: admin-token}}
{{- end -}}

{{/* The ingest token: what proxies send to the nodes' internal ingest, and all they hold. */}}
{{- define "eventpipe.ingestTokenEnv" -}}
- name: PIPELINE_INGEST_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.secretName" . }}, key: ingest-token}}
{{- end -}}

{{- define "eventpipe.workspaceVolume" -}}
- name: workspace
{{- if .Values.workspace.existingSecret }}
  secret: {secretName: {{ .Values.workspace.existingSecret }}, items: [{key: workspace.yaml, path: workspace.yaml}]}
{{- else if .Values.workspace.existingConfigMap }}
  configMap: {name: {{ .Values.workspace.existingConfigMap }}, items: [{key: workspace.yaml, path: workspace.yaml}]}
{{- else }}
  configMap: {name: {{ include "eventpipe.name" . }}-workspace}
{{- end }}
{{- end -}}

{{/* Security context of the eventpipe containers: the image's non-root user, nothing writable but /tmp. */}}
{{- define "eventpipe.appSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{- define "eventpipe.postgresSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{- define "eventpipe.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile: {type: RuntimeDefault}
{{- end -}}
