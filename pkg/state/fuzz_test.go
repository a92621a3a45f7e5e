package state

import (
	"maps"
	"testing"
	"time"
)

// FuzzFromAnnotations: the operation record is read from annotations
// anyone who may patch the object writes. Reading any set of them never
// panics, and a record read back from what it renders is the same record.
func FuzzFromAnnotations(f *testing.F) {
	f.Add("20261127-060000-abcdef", "rollout", "watch", "2026-11-27T06:00:00Z", "", "3", "images", `{"app":"web:v2"}`, "")
	f.Add("x", "bluegreen", "switched", "not a time", "interrupted", "", "active", "green", "zdd.dev/param.")
	f.Add("", "canary", "step-1", "", "failed", "-1", "steps", "10,50,100", "zdd.dev/phase")
	f.Fuzz(func(t *testing.T, id, strategy, phase, start, result, from, key, value, extraKey string) {
		a := map[string]string{
			KeyOperationID: id, KeyStrategy: strategy, KeyPhase: phase, KeyStartTime: start,
			KeyResult: result, KeyFromRevision: from, ParamPrefix + key: value, extraKey: value,
		}
		op, ok := FromAnnotations(a)
		if ok != (id != "") {
			t.Fatalf("ok = %v for operation id %q", ok, id)
		}
		if !ok {
			return
		}
		_ = op.InFlight()
		_ = op.Unfinished()
		_ = op.ParamKeys()
		if _, err := op.MergePatch("1", key); err != nil {
			t.Fatalf("MergePatch: %v", err)
		}
		rendered := map[string]string{}
		for k, v := range op.Annotations() {
			if v != nil {
				rendered[k] = *v
			}
		}
		again, ok := FromAnnotations(rendered)
		if !ok {
			t.Fatalf("the rendered record %v is not a record", rendered)
		}
		if again.ID != op.ID || again.Strategy != op.Strategy || again.Phase != op.Phase || again.Result != op.Result ||
			again.FromRevision != op.FromRevision || !again.StartTime.Equal(op.StartTime.Truncate(time.Second)) {
			t.Fatalf("round trip: %+v, then %+v", op, again)
		}
		want := maps.Clone(op.Params)
		maps.DeleteFunc(want, func(_, v string) bool { return v == "" })
		if !maps.Equal(want, again.Params) {
			t.Fatalf("params round trip: %v, then %v", want, again.Params)
		}
		_ = recordOf(a)
	})
}
