package state

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// Carrier is the object an operation's record lives on: read it, and merge
// patch it.
type Carrier interface {
	// Kind is "deployment" or "service"; Ref "namespace/name".
	Kind() string
	Ref() string
	Get(ctx context.Context) (metav1.Object, error)
	Patch(ctx context.Context, patch []byte) (metav1.Object, error)
}

// DeploymentCarrier is Deployment namespace/name (the record of rollout
// and canary).
func DeploymentCarrier(c kubernetes.Interface, namespace, name string) Carrier {
	return &carrier{kind: "deployment", ns: namespace, name: name,
		get: func(ctx context.Context) (metav1.Object, error) {
			return c.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		},
		patch: func(ctx context.Context, p []byte) (metav1.Object, error) {
			return c.AppsV1().Deployments(namespace).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: kube.FieldManager})
		}}
}

// ServiceCarrier is Service namespace/name (the record of blue-green).
func ServiceCarrier(c kubernetes.Interface, namespace, name string) Carrier {
	return &carrier{kind: "service", ns: namespace, name: name,
		get: func(ctx context.Context) (metav1.Object, error) {
			return c.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		},
		patch: func(ctx context.Context, p []byte) (metav1.Object, error) {
			return c.CoreV1().Services(namespace).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: kube.FieldManager})
		}}
}

type carrier struct {
	kind, ns, name string
	get            func(context.Context) (metav1.Object, error)
	patch          func(context.Context, []byte) (metav1.Object, error)
}

func (c *carrier) Kind() string { return c.kind }
func (c *carrier) Ref() string  { return c.ns + "/" + c.name }
func (c *carrier) Get(ctx context.Context) (metav1.Object, error) {
	return c.get(ctx)
}
func (c *carrier) Patch(ctx context.Context, p []byte) (metav1.Object, error) {
	return c.patch(ctx, p)
}

// RecordChangedError says the record on the object was written by someone
// else since this run last wrote or read it (another run took the
// operation over, or a person edited it): this run stops rather than write
// over it.
type RecordChangedError struct {
	Object string
	// Was and Now are the operation ids and holders of the two records.
	WasID, NowID, NowHolder string
}

func (e *RecordChangedError) Error() string {
	if e.NowID == "" {
		return fmt.Sprintf("the operation record on %s was removed by someone else (it held operation %s); not writing over that", e.Object, e.WasID)
	}
	if e.NowID != e.WasID {
		return fmt.Sprintf("the operation record on %s now holds operation %s (holder %q), not %s: another run took it over; not writing over it", e.Object, e.NowID, e.NowHolder, e.WasID)
	}
	return fmt.Sprintf("the record of operation %s on %s was changed by someone else (holder now %q); not writing over it", e.WasID, e.Object, e.NowHolder)
}

// RecordWriter writes an operation's record on its Carrier, the one writer
// every strategy uses:
//   - each write is a merge patch of the zdd.dev/ annotations carrying the
//     resourceVersion of the version this writer last read or wrote, so it
//     never lands on a version it has not looked at;
//   - Fence (the operation's Lock) is checked right before each write;
//   - on a Conflict the object is read again: if its record is not the one
//     this writer last wrote or read (another run, a person), the write
//     stops with a *RecordChangedError; otherwise Judge (the strategy) is
//     shown the new version, and the write is tried again on it unless
//     Judge refuses (Save) or even then (SaveAnyway: the record of a stop
//     caused by that very change).
type RecordWriter struct {
	Object Carrier
	// Fence is checked right before each write (nil: none, e.g. a dry run).
	Fence Fence
	// Judge is shown each newer version read after a Conflict; an error
	// stops Save (nil accepts every change).
	Judge func(obj metav1.Object) error
	// Now gives the record's update time; time.Now by default.
	Now func() time.Time

	base   metav1.Object
	record map[string]string
}

// recordTries bounds the rounds of one write whose conflicts are all
// changes that Judge accepts (the controllers write a Deployment's status
// all the time).
const recordTries = 10

// Load reads the object and the record on it (ok false when it carries
// none); the version read is the base of the next write. A failed read is
// an error: no operation starts or continues on a record it could not read.
func (w *RecordWriter) Load(ctx context.Context) (*Operation, bool, error) {
	obj, err := w.Object.Get(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("reading the operation record on %s %q: %w", w.Object.Kind(), w.Object.Ref(), err)
	}
	w.Observe(obj)
	op, ok := FromAnnotations(obj.GetAnnotations())
	return op, ok, nil
}

// Observe makes obj the version the next write is based on: one this run
// wrote itself (a selector switch that carries the record, an apply), or
// read and judged.
func (w *RecordWriter) Observe(obj metav1.Object) {
	w.base = obj
	w.record = recordOf(obj.GetAnnotations())
}

// Base is the version of the object last read or written.
func (w *RecordWriter) Base() metav1.Object { return w.base }

// RecordedPhase is the phase of the record as this writer last wrote or
// read it: what a run that stops without writing leaves for resume ("" when
// unknown).
func (w *RecordWriter) RecordedPhase() string { return w.record[KeyPhase] }

// Save writes op (removeParams: params of an earlier operation to drop).
func (w *RecordWriter) Save(ctx context.Context, op *Operation, removeParams ...string) error {
	_, err := w.write(ctx, op, false, removeParams)
	return err
}

// SaveAnyway writes op even when Judge refuses the newer version (it is
// accepted as the base first): the record of an operation stopped because
// of that change. A record written by someone else still stops it.
func (w *RecordWriter) SaveAnyway(ctx context.Context, op *Operation) error {
	_, err := w.write(ctx, op, true, nil)
	return err
}

func (w *RecordWriter) write(ctx context.Context, op *Operation, anyway bool, removeParams []string) (metav1.Object, error) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	op.UpdateTime = now().UTC().Truncate(time.Second)
	what := fmt.Sprintf("recording phase %q of operation %s on %s %q", op.Phase, op.ID, w.Object.Kind(), w.Object.Ref())
	if w.base == nil {
		if _, _, err := w.Load(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	var last error
	for try := 0; try < recordTries; try++ {
		if w.Fence != nil {
			if err := w.Fence.Check(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		patch, err := op.MergePatch(w.base.GetResourceVersion(), removeParams...)
		if err != nil {
			return nil, err
		}
		obj, err := w.Object.Patch(ctx, patch)
		if err == nil {
			w.Observe(obj)
			afterSave(ctx, op)
			return obj, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		last = err
		fresh, gerr := w.Object.Get(ctx)
		if gerr != nil {
			return nil, fmt.Errorf("%s: reading it again after a conflict: %w", what, gerr)
		}
		if rec := recordOf(fresh.GetAnnotations()); !maps.Equal(rec, w.record) {
			return nil, fmt.Errorf("%s: %w", what, &RecordChangedError{Object: fmt.Sprintf("%s %q", w.Object.Kind(), w.Object.Ref()),
				WasID: w.record[KeyOperationID], NowID: rec[KeyOperationID], NowHolder: rec[KeyHolder]})
		}
		if w.Judge != nil {
			if err := w.Judge(fresh); err != nil && !anyway {
				return nil, err
			}
		}
		w.Observe(fresh)
	}
	return nil, fmt.Errorf("%s: still conflicting after %d tries: %w", what, recordTries, last)
}

// recordKeys are the annotations of the operation record (besides its
// params): what FromAnnotations reads.
var recordKeys = map[string]bool{KeyOperationID: true, KeyStrategy: true, KeyPhase: true, KeyStartTime: true, KeyUpdateTime: true,
	KeyFromRevision: true, KeyToRevision: true, KeyResult: true, KeyMessage: true, KeyHolder: true}

// recordOf is the operation record in annotations: its keys and params.
// Other zdd.dev/ annotations (zdd.dev/ignore, the canary's
// zdd.dev/canary-of, a release's zdd.dev/summary) are not the record.
func recordOf(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if recordKeys[k] || strings.HasPrefix(k, ParamPrefix) {
			out[k] = v
		}
	}
	return out
}
