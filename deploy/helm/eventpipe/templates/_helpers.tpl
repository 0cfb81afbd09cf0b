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

{{/* The keys of the chart's Secret (generated, or secrets.existingSecret). */}}
{{- define "eventpipe.secretKeys" -}}
admin-token, ingest-token, node-db-password{{ if .Values.controlStore.enabled }}, control-db-password, control-proxy-password, control-node-password, control-migrator-password{{ end }}
{{- end -}}

{{- define "eventpipe.nodesService" -}}{{ include "eventpipe.name" . }}-nodes{{- end -}}

{{/* The ports each role listens on (fixed: the contract tests check them against the launcher's defaults). */}}
{{- define "eventpipe.nodeInternalPort" -}}8081{{- end -}}
{{- define "eventpipe.proxyPort" -}}8080{{- end -}}
{{- define "eventpipe.proxyAdminPort" -}}8081{{- end -}}

{{/*
Environment giving PIPELINE_CONTROL_URL without a password in the manifest: (list $ "proxy"|"node"|"migrator"|"owner").
Each kind of process has its own role on the control store (see ControlRoles): proxies read, nodes write their
rows, the migrator changes the topology; only control-init (the nodes' init container) is its owner.
*/}}
{{- define "eventpipe.controlUrlEnv" -}}
{{- $ := index . 0 }}
{{- $role := index . 1 }}
{{- if $.Values.controlStore.enabled }}
{{- $user := dict "owner" "eventpipe" "proxy" "eventpipe_proxy" "node" "eventpipe_node_any" "migrator" "eventpipe_migrator" }}
{{- $key := dict "owner" "control-db-password" "proxy" "control-proxy-password" "node" "control-node-password" "migrator" "control-migrator-password" }}
- name: CONTROL_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.secretName" $ }}, key: {{ index $key $role }}}}
- name: PIPELINE_CONTROL_URL
  value: "postgresql://{{ index $user $role }}:$(CONTROL_DB_PASSWORD)@{{ include "eventpipe.name" $ }}-control.{{ $.Release.Namespace }}.svc:5432/control"
{{- else }}
- name: PIPELINE_CONTROL_URL
  valueFrom: {secretKeyRef: {name: {{ $.Values.controlStore.external.existingSecret }}, key: {{ index $.Values.controlStore.external.urlKeys $role }}}}
{{- end }}
{{- end -}}

{{/* The role passwords control-init sets (the bundled control store only: an external one's DBA sets them). */}}
{{- define "eventpipe.rolePasswordsEnv" -}}
{{- if .Values.controlStore.enabled }}
{{- range $flag, $key := dict "PROXY" "control-proxy-password" "NODE" "control-node-password" "MIGRATOR" "control-migrator-password" }}
- name: PIPELINE_{{ $flag }}_ROLE_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.secretName" $ }}, key: {{ $key }}}}
{{- end }}
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
