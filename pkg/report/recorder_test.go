package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// stepClock is a clock the test moves.
type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time          { return c.t }
func (c *stepClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestRecorderBuildsThePicture: what an engine announces (phases, analysis
// results, its endpoint watch, handed over twice when it is stopped twice)
// and the probe's seconds make one Data: the watch of the Service asked
// for, the hashes named, the phases at the times they were announced, the
// measurements grouped by metric, the seconds as buckets (no answer as
// NoVersion).
func TestRecorderBuildsThePicture(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	clock := &stepClock{t: t0}
	r := NewRecorder(clock.now)
	if r.Heard() {
		t.Error("a new recorder says it heard something")
	}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	watch := downtime.Report{Service: "shop/web", MinReady: 3, Started: at(0), Stopped: at(20), Timeline: []downtime.Sample{
		{Time: at(0), Ready: 3, ByHash: map[string]int{"aaa": 3}},
		{Time: at(5), Ready: 4, ByHash: map[string]int{"aaa": 3, "bbb": 1}},
		{Time: at(12), Ready: 3, ByHash: map[string]int{"bbb": 3}},
	}}
	other := downtime.Report{Service: "shop/web-admin", Started: at(0), Stopped: at(20)}
	clock.advance(time.Second)
	r.Phase("apply")
	clock.advance(10 * time.Second)
	r.Phase("rolled out")
	r.Measured(&analysis.Result{Verdict: analysis.Passed, Measurements: []analysis.Measurement{
		{Time: at(14), Metric: "error-rate", Value: f64(0.01), Max: f64(0.05), Verdict: analysis.Passed},
		{Time: at(14), Metric: "p99", Value: f64(0.2), Max: f64(0.5), Verdict: analysis.Passed},
	}})
	r.Measured(&analysis.Result{Verdict: analysis.Failed, Measurements: []analysis.Measurement{
		{Time: at(16), Metric: "error-rate", Value: f64(0.09), Max: f64(0.05), Verdict: analysis.Failed},
	}})
	r.Measured(nil)
	r.Watched(other)
	r.Watched(watch)
	r.Watched(watch)
	seconds := []probe.Second{
		{At: at(0), Versions: map[string]probe.VersionCount{"v1": {Succeeded: 10}}},
		{At: at(6), Versions: map[string]probe.VersionCount{"v1": {Succeeded: 5}, "v2": {Succeeded: 4, Failed: 1}, probe.NoAnswer: {Failed: 2}}},
	}
	d := r.Data("shop/web", map[string]string{"aaa": "v1", "bbb": "v2"}, seconds)

	if !d.Start.Equal(at(0)) || !d.End.Equal(at(20)) || d.Facts.Service != "shop/web" || d.Facts.MinReady != 3 || d.Facts.Unwatched {
		t.Errorf("axis %s..%s, facts %+v: want the watch of shop/web, 0s to 20s", d.Start, d.End, d.Facts)
	}
	var names []string
	for _, v := range d.Versions {
		names = append(names, v.Name)
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, names); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Phase{{"apply", at(1)}, {"rolled out", at(11)}}, d.Phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if len(d.Analysis) != 2 || d.Analysis[0].Name != "error-rate" || len(d.Analysis[0].Points) != 2 || d.Analysis[0].Points[1].Verdict != "failed" || d.Analysis[1].Name != "p99" {
		t.Errorf("analysis %+v: want error-rate (passed, failed) then p99", d.Analysis)
	}
	want := &Probe{Width: time.Second, Buckets: []Bucket{
		{Time: at(0), Counts: map[string]Count{"v1": {Sent: 10}}},
		{Time: at(6), Counts: map[string]Count{"v1": {Sent: 5}, "v2": {Sent: 5, Failed: 1}, NoVersion: {Sent: 2, Failed: 2}}},
	}}
	if diff := cmp.Diff(want, d.Probe); diff != "" {
		t.Errorf("probe (-want +got):\n%s", diff)
	}
	if !r.Heard() {
		t.Error("the recorder says it heard nothing")
	}
}

// TestRecorderWithoutWatch: an operation whose endpoints nobody watched
// (a resumed rollout) is drawn over the recorder's own time, without a
// ready row, and says so; the summary keeps that.
func TestRecorderWithoutWatch(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	clock := &stepClock{t: t0}
	r := NewRecorder(clock.now)
	clock.advance(2 * time.Second)
	r.Phase("rollback")
	clock.advance(8 * time.Second)
	d := r.Data("shop/web", nil, nil)
	if !d.Start.Equal(t0) || !d.End.Equal(t0.Add(10*time.Second)) || !d.Facts.Unwatched || d.Probe != nil {
		t.Fatalf("axis %s..%s, facts %+v, probe %+v: want 10s from the recorder's start, unwatched, no probe", d.Start, d.End, d.Facts, d.Probe)
	}
	var buf bytes.Buffer
	if err := Timeline(&buf, d, TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "were not watched") || strings.Contains(out, "\nready") || !strings.Contains(out, "rollback") {
		t.Errorf("timeline of an unwatched operation:\n%s", out)
	}
	enc, err := Encode(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Facts.Unwatched {
		t.Error("the summary lost that the endpoints were not watched")
	}
}

// TestSetFacts: the facts come from the record; who is the holder's
// person without its process.
func TestSetFacts(t *testing.T) {
	var d Data
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	d.SetFacts("deployment", "shop", "web", &state.Operation{ID: "op1", Strategy: "rollout", Holder: "ana@laptop pid 7 op op1",
		StartTime: start, UpdateTime: start.Add(time.Minute), FromRevision: "3", ToRevision: "4", Result: "succeeded", Message: "fine"})
	want := Facts{Kind: "Deployment", Namespace: "shop", Name: "web", Strategy: "rollout", OperationID: "op1", Who: "ana@laptop",
		Started: start, Ended: start.Add(time.Minute), FromRevision: "3", ToRevision: "4", Result: "succeeded", Message: "fine"}
	if diff := cmp.Diff(want, d.Facts); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
}

func replicaSet(hash, owner, image, rev string) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            owner + "-" + hash,
			Labels:          map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash},
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: owner}},
		},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}},
	}
}

// TestVersionNames: a hash is named by its image's tag, with what tells
// its Deployment apart from the release's (canary, colour), and by its
// revision when two would have the same name.
func TestVersionNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		base string
		rss  []appsv1.ReplicaSet
		want map[string]string
	}{
		{"rollout", "web", []appsv1.ReplicaSet{replicaSet("a1", "web", "registry.example:5000/shop/web:v1", "1"), replicaSet("b2", "web", "registry.example:5000/shop/web:v2", "2")},
			map[string]string{"a1": "v1", "b2": "v2"}},
		{"canary", "web", []appsv1.ReplicaSet{replicaSet("a1", "web", "web:v1", "1"), replicaSet("c3", "web-canary", "web:v2", "1")},
			map[string]string{"a1": "v1", "c3": "v2 canary"}},
		{"blue-green", "web", []appsv1.ReplicaSet{replicaSet("a1", "web-blue", "web:1.0", "1"), replicaSet("g7", "web-green", "web:1.1", "1")},
			map[string]string{"a1": "1.0 blue", "g7": "1.1 green"}},
		{"same image, new template", "web", []appsv1.ReplicaSet{replicaSet("a1", "web", "web:v1", "1"), replicaSet("f4", "web", "web:v1", "2")},
			map[string]string{"a1": "v1 r1", "f4": "v1 r2"}},
		{"digest", "web", []appsv1.ReplicaSet{replicaSet("d5", "web", "web@sha256:0123456789abcdef0123", "1")},
			map[string]string{"d5": "@0123456789ab"}},
		{"no tag", "web", []appsv1.ReplicaSet{replicaSet("e6", "web", "registry.example/shop/web", "1")},
			map[string]string{"e6": "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, VersionNames(tc.rss, tc.base)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestColoursOfNamedColours: a blue-green version named as the release
// commands name it ("1.1 green") is drawn in its colour.
func TestColoursOfNamedColours(t *testing.T) {
	d := &Data{Versions: []Series{{Name: "1.0 blue"}, {Name: "1.1 green"}, {Name: "v3"}}}
	if diff := cmp.Diff([]string{palette[0], palette[2], palette[1]}, VersionColors(d)); diff != "" {
		t.Errorf("colours (-want +got):\n%s", diff)
	}
}
