package state

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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

func TestLockHeldExpiredForced(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "a", Duration: 30 * time.Second, Now: clock}
	if err := a.Acquire(ctx, false); err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	defer func() { _ = a.Release(ctx) }()

	b := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "b", Duration: 30 * time.Second, Now: clock}
	err := b.Acquire(ctx, false)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "a" {
		t.Fatalf("second acquire: want HeldError naming a, got %v", err)
	}

	// After expiry, b takes it over and names a as the previous holder.
	later := now.Add(31 * time.Second)
	b.Now = func() time.Time { return later }
	if err := b.Acquire(ctx, false); err != nil {
		t.Fatalf("acquire after expiry: %v", err)
	}
	if b.Previous != "a" {
		t.Errorf("Previous = %q, want a", b.Previous)
	}
	info, ok, err := Describe(ctx, cs.CoordinationV1(), "ns", "zdd-deployment-web", later)
	if err != nil || !ok || info.Holder != "b" || !info.Renewing {
		t.Errorf("Describe = %+v ok=%v err=%v", info, ok, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases("ns").Get(ctx, "zdd-deployment-web", metav1.GetOptions{}); err == nil {
		t.Error("lease still exists after release")
	}

	// force takes a live lease at once.
	c := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "c", Now: clock}
	if err := c.Acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	d := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "d", Now: clock}
	if err := d.Acquire(ctx, true); err != nil || d.Previous != "c" {
		t.Fatalf("forced acquire: err=%v previous=%q", err, d.Previous)
	}
	_ = d.Release(ctx)
}
