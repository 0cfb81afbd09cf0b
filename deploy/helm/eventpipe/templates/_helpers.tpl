{{/* Object names start with the release name (at most 40 characters, so pod names stay under 63). */}}
{{- define "eventpipe.name" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- end -}}

{{- define "eventpipe.labels" -}}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/* The eventpipe image: repository:tag, or repository@digest when image.digest is set (the tag is then informational). */}}
{{- define "eventpipe.image" -}}
{{- if .Values.image.digest }}{{ printf "%s@%s" .Values.image.repository .Values.image.digest | quote }}
{{- else }}{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}{{ end }}
{{- end -}}

{{/* metadata.annotations of every object: commonAnnotations plus the object's own (a dict), or nothing. */}}
{{- define "eventpipe.annotations" -}}
{{- $ := index . 0 }}
{{- $own := index . 1 | default dict }}
{{- $all := merge (deepCopy $own) ($.Values.commonAnnotations | default dict) }}
{{- with $all }}
annotations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Argo CD ordering (issue 16 item 2). Argo CD runs Helm's pre-upgrade hooks as PreSync on every sync, the first one
included, before anything else exists. So every object carries a sync wave: the Secret, ConfigMaps, Services,
NetworkPolicies and the control store first (-3), then the control-init Job (-2, a Sync hook), the shrink hook (-1, a
Sync hook), the nodes and proxies (0), and the grow hook last (PostSync). Helm ignores these annotations.
*/}}
{{- define "eventpipe.wave" -}}argocd.argoproj.io/sync-wave: {{ . | quote }}{{- end -}}

{{/* Pod template metadata: the selector labels, podLabels, and the pod's annotations. (list $ component podLabels podAnnotations) */}}
{{- define "eventpipe.podMetadata" -}}
{{- $ := index . 0 }}
labels:
  {{- with index . 2 }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- include "eventpipe.selector" (list $ (index . 1)) | nindent 2 }}
{{- with index . 3 }}
annotations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Scheduling and pod-level settings shared by every pod: (list $ component componentValues).
Topology spread: each node ordinal is the only copy of its partitions, so by default pods of one component spread
over hosts and zones (topologySpread.whenUnsatisfiable, ScheduleAnyway: a small cluster still schedules); a
non-empty topologySpreadConstraints replaces the default.
*/}}
{{- define "eventpipe.podScheduling" -}}
{{- $ := index . 0 }}
{{- $comp := index . 1 }}
{{- $c := index . 2 }}
{{- with $.Values.image.pullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $c.topologySpreadConstraints }}
topologySpreadConstraints: {{- toYaml $c.topologySpreadConstraints | nindent 2 }}
{{- else if and $c.topologySpread $c.topologySpread.topologyKeys }}
topologySpreadConstraints:
  {{- range $c.topologySpread.topologyKeys }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $c.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels: {{- include "eventpipe.selector" (list $ $comp) | nindent 8 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The service account of every pod: the chart's (serviceAccount.create) or a named one; no API token unless asked. */}}
{{- define "eventpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (printf "%s-eventpipe" (include "eventpipe.name" .)) .Values.serviceAccount.name }}
{{- else }}{{ .Values.serviceAccount.name }}{{ end }}
{{- end -}}

{{- define "eventpipe.serviceAccount" -}}
{{- with include "eventpipe.serviceAccountName" . }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- end -}}

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
{{- include "eventpipe.containerSecurityContext" (list . 10001) }}
{{- end -}}

{{/*
A container's security context: (list $ uid). securityContext.fixedIds false leaves runAsUser/runAsGroup out (OpenShift's
restricted SCC assigns them); securityContext.container is merged over the result.
*/}}
{{- define "eventpipe.containerSecurityContext" -}}
{{- $ := index . 0 }}
{{- $sc := dict "runAsNonRoot" true "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL")) }}
{{- if $.Values.securityContext.fixedIds }}
{{- $_ := set $sc "runAsUser" (index . 1) }}
{{- $_ := set $sc "runAsGroup" (index . 1) }}
{{- end }}
{{- toYaml (mergeOverwrite $sc (deepCopy ($.Values.securityContext.container | default dict))) }}
{{- end -}}

{{- define "eventpipe.postgresSecurityContext" -}}
{{- include "eventpipe.containerSecurityContext" . }}
{{- end -}}

{{/* A pod's security context: (list $ fsGroup-or-nil); securityContext.pod is merged over it. */}}
{{- define "eventpipe.podSecurityContext" -}}
{{- $ := index . 0 }}
{{- $sc := dict "runAsNonRoot" true "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- if and $.Values.securityContext.fixedIds (index . 1) }}
{{- $_ := set $sc "fsGroup" (index . 1) }}
{{- $_ := set $sc "fsGroupChangePolicy" "OnRootMismatch" }}
{{- end }}
{{- toYaml (mergeOverwrite $sc (deepCopy ($.Values.securityContext.pod | default dict))) }}
{{- end -}}

{{/* The node databases' credentials: the chart's Secret (sidecar), or the basic-auth Secret of the CloudNativePG Clusters. */}}
{{- define "eventpipe.cnpgAppSecret" -}}{{ default (printf "%s-node-db" (include "eventpipe.name" .)) .Values.nodes.database.cloudnativepg.appSecret }}{{- end -}}

{{- define "eventpipe.nodeDbPasswordEnv" -}}
- name: NODE_DB_PASSWORD
{{- if eq .Values.nodes.database.mode "sidecar" }}
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.secretName" . }}, key: node-db-password}}
{{- else }}
  valueFrom: {secretKeyRef: {name: {{ include "eventpipe.cnpgAppSecret" . }}, key: password}}
{{- end }}
{{- end -}}

{{/* PostgreSQL k's host as the migrator reaches it ({node} is the ordinal). */}}
{{- define "eventpipe.nodePgHost" -}}
{{- if eq .Values.nodes.database.mode "sidecar" }}{{ include "eventpipe.name" . }}-node-{node}.{{ include "eventpipe.nodesService" . }}.{{ .Release.Namespace }}.svc
{{- else }}{{ include "eventpipe.name" . }}-node-{node}-pg-rw.{{ .Release.Namespace }}.svc{{ end }}
{{- end -}}

{{/* nodes.postgres.settings as PostgreSQL parameters (strings, as CloudNativePG wants them). */}}
{{- define "eventpipe.pgParameters" -}}
{{- range $k, $v := .Values.nodes.postgres.settings }}
{{ $k }}: {{ printf "%v" $v | quote }}
{{- end }}
{{- end -}}

{{- define "eventpipe.cnpgStorage" -}}
size: {{ .Values.nodes.database.cloudnativepg.storage.size }}
{{- with .Values.nodes.database.cloudnativepg.storage.storageClass }}
storageClass: {{ . }}
{{- end }}
{{- end -}}

{{/*
The control-init container: (list $ clusterNodesEnvSource). The control store's owner credentials reach this
container only: it creates the roles (and sets their passwords), migrates the schema, grants, and creates a new
cluster's topology. In the node pods it reads the count from the cluster ConfigMap (the pod template never depends
on it); the control-init hook Job gets it as a value.
*/}}
{{- define "eventpipe.controlInitContainer" -}}
{{- $ := index . 0 }}
- name: control-init
  image: {{ include "eventpipe.image" $ }}
  imagePullPolicy: {{ $.Values.image.pullPolicy }}
  args: ["control-init"]
  env:
    {{- include "eventpipe.controlUrlEnv" (list $ "owner") | nindent 4 }}
    {{- include "eventpipe.rolePasswordsEnv" $ | nindent 4 }}
    - name: PIPELINE_CLUSTER_NODES
      {{- toYaml (index . 1) | nindent 6 }}
    - {name: PIPELINE_PARTITIONS, value: {{ $.Values.partitions | quote }}}
    - {name: PIPELINE_JAVA_OPTS, value: {{ $.Values.javaOpts | quote }}}
  securityContext: {{- include "eventpipe.appSecurityContext" $ | nindent 4 }}
  resources: {{- toYaml $.Values.migrator.resources | nindent 4 }}
  volumeMounts:
    - {name: tmp, mountPath: /tmp}
{{- end -}}

{{/*
The nodes' StatefulSet replicas and the migrator hooks' --to. With autoscaling.nodes.enabled the autoscaler owns the
count: the live StatefulSet's replicas (lookup) are kept, so a `helm upgrade` neither resizes nor migrates; a first
install (nothing to look up) and a render without a cluster take nodes.replicaCount.
*/}}
{{- define "eventpipe.nodeCount" -}}
{{- $n := int .Values.nodes.replicaCount }}
{{- if .Values.autoscaling.nodes.enabled }}
{{- $live := lookup "apps/v1" "StatefulSet" .Release.Namespace (printf "%s-node" (include "eventpipe.name" .)) }}
{{- if and $live $live.spec $live.spec.replicas }}
{{- $n = int $live.spec.replicas }}
{{- end }}
{{- end }}
{{- $n }}
{{- end -}}
