package lint

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMapTemplateLines checks where lines of a template's output are
// mapped: literal lines to themselves, substituted values to the line that
// writes them, toYaml and include output to the action's line, lines of a
// range loop to the loop's body, and nothing lost to an if that renders
// nothing.
func TestMapTemplateLines(t *testing.T) {
	tmpl := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "x.fullname" . }}
  labels:
    {{- include "x.labels" . | nindent 4 }}
spec:
  {{- if .Values.replicas }}
  replicas: {{ .Values.replicas }}
  {{- end }}
  template:
    spec:
      containers:
        - name: app
          ports:
          {{- range .Values.ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
          {{- end }}
          {{- with .Values.probe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          image: app:1
`
	out := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: rel-x
  labels:
    app: x
    release: rel
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: app
          ports:
            - name: http
              containerPort: 8080
            - name: metrics
              containerPort: 9090
          readinessProbe:
            httpGet:
              path: /ready
              port: http
          image: app:1
`
	lm := mapTemplateLines([]byte(tmpl), []byte(out))
	// output line -> template line
	want := map[int]int{
		1:  1,  // apiVersion
		4:  4,  // name: {{ include }}
		5:  5,  // labels:
		6:  6,  // include | nindent
		7:  6,  // include | nindent
		8:  7,  // spec:
		9:  9,  // replicas: {{ }}
		10: 11, // template:
		13: 14, // - name: app
		15: 17, // - name: {{ .name }}
		16: 18, // containerPort
		17: 17, // second iteration of the range
		18: 18,
		19: 21, // readinessProbe:
		20: 22, // toYaml
		22: 22,
		23: 24, // image
	}
	got := map[int]int{}
	for o := range want {
		got[o] = lm.line(o)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output line -> template line (-want +got):\n%s", diff)
	}
	if lm.line(0) != 0 || lm.line(999) != 24 {
		t.Errorf("line(0) = %d, line(999) = %d; want 0 and the last line's 24", lm.line(0), lm.line(999))
	}
}

// TestMapTemplateLinesUnknownSource keeps lines when the template text is
// not known.
func TestMapTemplateLinesUnknownSource(t *testing.T) {
	lm := mapTemplateLines(nil, []byte("a: 1\nb: 2\n"))
	if lm.line(2) != 2 {
		t.Errorf("line(2) = %d, want 2", lm.line(2))
	}
}

// TestMapTemplateLinesGreedy aligns a template too big for the table by
// its literal lines.
func TestMapTemplateLinesGreedy(t *testing.T) {
	var tmpl, out strings.Builder
	for i := 0; i < 1600; i++ {
		tmpl.WriteString("- a\n  b: {{ .x }}\n")
		out.WriteString("- a\n  b: 1\n")
	}
	lm := mapTemplateLines([]byte(tmpl.String()), []byte(out.String()))
	if got := lm.line(3); got != 3 {
		t.Errorf("line(3) = %d, want 3", got)
	}
	if got := lm.line(4); got != 4 {
		t.Errorf("line(4) = %d, want 4 (the action after the literal line)", got)
	}
}
