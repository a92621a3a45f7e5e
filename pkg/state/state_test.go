package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOperationRoundTrip(t *testing.T) {
	start := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	op := &Operation{ID: "20261127-060000-abcdef", Strategy: "rollout", Phase: "watch", StartTime: start,
		FromRevision: "3", ToRevision: "4", Params: map[string]string{"images": "web=nginx:1.27"}}
	ann := map[string]string{}
	for k, v := range op.Annotations() {
		if v != nil {
			ann[k] = *v
		}
	}
	got, ok := FromAnnotations(ann)
	if !ok {
		t.Fatal("FromAnnotations found no record")
	}
	if diff := cmp.Diff(op, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, ok := FromAnnotations(map[string]string{"other": "x"}); ok {
		t.Error("FromAnnotations found a record on an object without one")
	}
}

func TestMergePatchRemovesEmptyKeysAndCarriesResourceVersion(t *testing.T) {
	op := &Operation{ID: "x", Strategy: "canary", Phase: "step-1"}
	b, err := op.MergePatch("42", "weight")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	meta := got["metadata"]
	if meta["resourceVersion"] != "42" {
		t.Errorf("resourceVersion = %v, want 42", meta["resourceVersion"])
	}
	ann := meta["annotations"].(map[string]any)
	if v, present := ann[KeyResult]; !present || v != nil {
		t.Errorf("result should be removed (null), got %v present=%v", v, present)
	}
	if v, present := ann[ParamPrefix+"weight"]; !present || v != nil {
		t.Errorf("param weight should be removed (null), got %v present=%v", v, present)
	}
	if ann[KeyPhase] != "step-1" {
		t.Errorf("phase = %v", ann[KeyPhase])
	}
}

func TestLeaseName(t *testing.T) {
	if got := LeaseName("Deployment", "web"); got != "zdd-deployment-web" {
		t.Errorf("LeaseName = %q", got)
	}
	long := LeaseName("Deployment", "a-very-long-deployment-name-that-goes-on-and-on-and-on-forever")
	if len(long) > 63 {
		t.Errorf("LeaseName too long: %d", len(long))
	}
}

// TestUnfinished: the one rule by which resume, abort and a new operation
// tell an operation that left its objects between two safe states from
// one that ended.
func TestUnfinished(t *testing.T) {
	for _, tc := range []struct {
		op   *Operation
		want bool
	}{
		{op: nil},
		{op: &Operation{}},
		{op: &Operation{ID: "x", Phase: "watch"}, want: true},
		{op: &Operation{ID: "x", Phase: "watch", Result: ResultInterrupted}, want: true},
		{op: &Operation{ID: "x", Phase: "ready-to-promote", Result: ResultPaused}, want: true},
		{op: &Operation{ID: "x", Phase: "rollback", Result: ResultFailed}, want: true},
		{op: &Operation{ID: "x", Phase: "done", Result: ResultSucceeded}},
		{op: &Operation{ID: "x", Phase: "done", Result: ResultRolledBack}},
		{op: &Operation{ID: "x", Phase: "aborted", Result: ResultAborted}},
	} {
		if got := tc.op.Unfinished(); got != tc.want {
			t.Errorf("%+v: Unfinished %v, want %v", tc.op, got, tc.want)
		}
	}
}
