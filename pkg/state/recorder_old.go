package state

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// Recorder saves an operation's record on the object it manages.
type Recorder struct {
	Client    dynamic.Interface
	Resource  schema.GroupVersionResource
	Namespace string
	Name      string
	// Now is swapped by tests.
	Now func() time.Time
}

// Save writes the record (phase, result, params) on the object with a merge
// patch of its annotations only, so it never conflicts with a spec change.
func (r *Recorder) Save(ctx context.Context, op *Operation) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	op.UpdateTime = now().UTC().Truncate(time.Second)
	patch, err := op.MergePatch("")
	if err != nil {
		return err
	}
	_, err = r.Client.Resource(r.Resource).Namespace(r.Namespace).Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("recording phase %q of operation %s on %s %q: %w", op.Phase, op.ID, r.Resource.Resource, r.Namespace+"/"+r.Name, err)
	}
	killAtPhaseForTests(op)
	return nil
}

// Load reads the record from the object; ok is false when it carries none.
func (r *Recorder) Load(ctx context.Context) (*Operation, bool, error) {
	obj, err := r.Client.Resource(r.Resource).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	op, ok := FromAnnotations(obj.GetAnnotations())
	return op, ok, nil
}
