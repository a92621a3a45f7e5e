// Package state is the memory of an operation in flight: its record lives in
// annotations under zdd.dev/ on the object the operation manages (the
// Deployment for rollout and canary, the Service for blue-green), and a
// coordination.k8s.io Lease stops two runs from working on the same object.
// Any run, from any machine, can read the record to show, resume or abort it.
package state

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Annotation keys of the operation record. Strategy-specific values are kept
// under ParamPrefix (zdd.dev/param.<key>).
const (
	Prefix           = "zdd.dev/"
	KeyOperationID   = Prefix + "operation-id"
	KeyStrategy      = Prefix + "strategy"
	KeyPhase         = Prefix + "phase"
	KeyStartTime     = Prefix + "start-time"
	KeyUpdateTime    = Prefix + "update-time"
	KeyFromRevision  = Prefix + "from-revision"
	KeyToRevision    = Prefix + "to-revision"
	KeyResult        = Prefix + "result"
	KeyMessage       = Prefix + "message"
	KeyHolder        = Prefix + "holder"
	ParamPrefix      = Prefix + "param."
	ChangeCauseKey   = "kubernetes.io/change-cause"
	IgnoreAnnotation = Prefix + "ignore"
)

// Results an operation can end with. An empty Result means in flight.
const (
	ResultSucceeded  = "succeeded"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled-back"
	ResultAborted    = "aborted"
	ResultPaused     = "paused"
	// ResultInterrupted: Ctrl-C (SIGINT) or SIGTERM stopped the run at a
	// consistent point; resume or abort finishes it.
	ResultInterrupted = "interrupted"
)

// Operation is the record of one release operation.
type Operation struct {
	ID           string            `json:"id"`
	Strategy     string            `json:"strategy"`
	Phase        string            `json:"phase"`
	StartTime    time.Time         `json:"startTime"`
	UpdateTime   time.Time         `json:"updateTime,omitempty"`
	FromRevision string            `json:"fromRevision,omitempty"`
	ToRevision   string            `json:"toRevision,omitempty"`
	Result       string            `json:"result,omitempty"`
	Message      string            `json:"message,omitempty"`
	Holder       string            `json:"holder,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
}

// InFlight reports whether the operation has not ended.
func (o *Operation) InFlight() bool { return o != nil && o.ID != "" && o.Result == "" }

// Unfinished reports whether the operation left its objects between two
// safe states for a person to finish with resume or abort: in flight (or
// killed), interrupted, paused, or failed part-way. Another strategy must
// not start over it.
func (o *Operation) Unfinished() bool {
	if o == nil || o.ID == "" {
		return false
	}
	switch o.Result {
	case "", ResultInterrupted, ResultPaused, ResultFailed:
		return true
	}
	return false
}

// NewOperation starts a record with a fresh id.
func NewOperation(strategy string, now time.Time) *Operation {
	return &Operation{ID: NewID(now), Strategy: strategy, StartTime: now.UTC().Truncate(time.Second), Params: map[string]string{}}
}

// NewID returns an operation id: a UTC timestamp and a random suffix, short
// enough to be part of an object name.
func NewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// Annotations renders the record as annotations. Keys with empty values are
// rendered as nil so a merge patch removes what an earlier phase left.
func (o *Operation) Annotations() map[string]*string {
	s := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	t := func(v time.Time) *string {
		if v.IsZero() {
			return nil
		}
		r := v.UTC().Format(time.RFC3339)
		return &r
	}
	a := map[string]*string{
		KeyOperationID:  s(o.ID),
		KeyStrategy:     s(o.Strategy),
		KeyPhase:        s(o.Phase),
		KeyStartTime:    t(o.StartTime),
		KeyUpdateTime:   t(o.UpdateTime),
		KeyFromRevision: s(o.FromRevision),
		KeyToRevision:   s(o.ToRevision),
		KeyResult:       s(o.Result),
		KeyMessage:      s(o.Message),
		KeyHolder:       s(o.Holder),
	}
	for k, v := range o.Params {
		a[ParamPrefix+k] = s(v)
	}
	return a
}

// FromAnnotations reads a record; ok is false when the object carries none.
func FromAnnotations(a map[string]string) (op *Operation, ok bool) {
	id := a[KeyOperationID]
	if id == "" {
		return nil, false
	}
	parse := func(k string) time.Time {
		v, err := time.Parse(time.RFC3339, a[k])
		if err != nil {
			return time.Time{}
		}
		return v
	}
	op = &Operation{
		ID:           id,
		Strategy:     a[KeyStrategy],
		Phase:        a[KeyPhase],
		StartTime:    parse(KeyStartTime),
		UpdateTime:   parse(KeyUpdateTime),
		FromRevision: a[KeyFromRevision],
		ToRevision:   a[KeyToRevision],
		Result:       a[KeyResult],
		Message:      a[KeyMessage],
		Holder:       a[KeyHolder],
		Params:       map[string]string{},
	}
	for k, v := range a {
		if strings.HasPrefix(k, ParamPrefix) {
			op.Params[strings.TrimPrefix(k, ParamPrefix)] = v
		}
	}
	return op, true
}

// ParamKeys returns the sorted keys of the strategy-specific params.
func (o *Operation) ParamKeys() []string {
	keys := make([]string, 0, len(o.Params))
	for k := range o.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MergePatch returns a JSON merge patch that writes the record (and removes
// params that were cleared). With resourceVersion set, the patch only applies
// to that version of the object, so a concurrent change makes it fail with a
// Conflict instead of being overwritten.
func (o *Operation) MergePatch(resourceVersion string, removeParams ...string) ([]byte, error) {
	ann := o.Annotations()
	for _, k := range removeParams {
		ann[ParamPrefix+k] = nil
	}
	meta := map[string]any{"annotations": ann}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	return json.Marshal(map[string]any{"metadata": meta})
}

// Clear returns a merge patch that removes every key of the record from an
// object that carries annotations a.
func Clear(a map[string]string) ([]byte, error) {
	ann := map[string]*string{}
	for k := range a {
		if strings.HasPrefix(k, Prefix) && k != IgnoreAnnotation {
			ann[k] = nil
		}
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
}
