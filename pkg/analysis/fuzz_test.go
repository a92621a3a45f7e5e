package analysis

import (
	"testing"
)

// FuzzDecodeParam: the recorded analysis is read from an annotation anyone
// who may patch the object writes. Decoding any value never panics; a
// spec that decodes is marked recorded, holds the text of every Job, lists
// what it reaches, and encodes to a value that decodes again.
func FuzzDecodeParam(f *testing.F) {
	f.Add(`{"file":"a.yaml","spec":{"interval":"1s","count":2,"metrics":[{"name":"m","max":1,"http":{"url":"http://x.example/{{.Name}}","headers":{"A":"Bearer ${ZDD_T}"}}}]}}`)
	f.Add(`{"file":"a.yaml","spec":{"interval":"1s","count":1,"metrics":[{"name":"smoke","job":{"file":"j.yaml"}}]},"jobs":{"smoke":"apiVersion: batch/v1\nkind: Job\nmetadata: {name: s}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: i}]}}}\n"}}`)
	f.Add(`{"spec":{"metrics":[{"name":"p","min":0,"prometheus":{"address":"http://u:p@prom:9090","query":"up","headers":{"X":"${V}"}}}]}}`)
	f.Add(`{"spec":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, value string) {
		spec, err := DecodeParam(value)
		if err != nil {
			return
		}
		if !spec.Recorded() {
			t.Fatal("a decoded spec is not marked recorded")
		}
		for _, m := range spec.Metrics {
			if m.Job != nil && m.Job.text == "" {
				t.Fatalf("metric %q: a recorded Job without its text", m.Name)
			}
		}
		spec.Reach()
		_ = spec.RefusedEnv(RecordedEnv(nil))
		enc, err := EncodeParam(spec)
		if err != nil {
			return // too large once re-encoded
		}
		if _, err := DecodeParam(enc); err != nil {
			t.Fatalf("a decoded spec does not decode again: %v\n%s", err, enc)
		}
	})
}
