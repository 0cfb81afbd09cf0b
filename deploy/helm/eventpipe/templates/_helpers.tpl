{{- define "eventpipe.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "eventpipe.secret" -}}{{ default (printf "%s-internal" .Release.Name) .Values.existingSecret }}{{- end -}}
{{- define "eventpipe.labels" -}}
app.kubernetes.io/name: eventpipe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "eventpipe.controlUrl" -}}postgresql://postgres:postgres@{{ .Release.Name }}-control:5432/postgres{{- end -}}
