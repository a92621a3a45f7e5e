// Package kubetest holds test helpers over client-go's fake clientset.
package kubetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Strict is a fake clientset that keeps resourceVersions as an API server
// does, which client-go's fake does not: every create, update and patch
// gives the object a new resourceVersion; an update carrying another
// resourceVersion than the stored one, a patch whose metadata.resourceVersion
// is not the stored one, and a delete whose preconditions do not hold fail
// with a Conflict. A Deployment's generation grows when its spec changes.
// Writes is the log of every write that reached the store (after the
// reactors a test prepends).
type Strict struct {
	*fake.Clientset

	mu       sync.Mutex
	rv       int64
	writes   []Write
	simulate bool
}

// Write is one write that reached the store.
type Write struct {
	Verb, Resource, Namespace, Name string
	// ResourceVersion is the object's new resourceVersion ("" for a delete).
	ResourceVersion string
}

func (w Write) String() string {
	return fmt.Sprintf("%s %s %s/%s", w.Verb, w.Resource, w.Namespace, w.Name)
}

// NewStrict returns a Strict clientset holding objs (each given a
// resourceVersion when it has none).
func NewStrict(objs ...runtime.Object) *Strict {
	s := &Strict{}
	for _, o := range objs {
		m, err := meta.Accessor(o)
		if err != nil {
			panic(err)
		}
		if m.GetResourceVersion() == "" {
			m.SetResourceVersion(s.next())
		}
	}
	s.Clientset = fake.NewClientset(objs...)
	s.PrependReactor("*", "*", s.react)
	return s
}

func (s *Strict) next() string {
	s.rv++
	return strconv.FormatInt(s.rv, 10)
}

// Writes returns the writes so far.
func (s *Strict) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes...)
}

func (s *Strict) logWrite(verb string, a k8stesting.Action, name, rv string) {
	defer s.reconcile()
	s.writes = append(s.writes, Write{Verb: verb, Resource: a.GetResource().Resource, Namespace: a.GetNamespace(), Name: name, ResourceVersion: rv})
}

func (s *Strict) react(a k8stesting.Action) (bool, runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gvr, ns := a.GetResource(), a.GetNamespace()
	tr := s.Tracker()
	switch act := a.(type) {
	case k8stesting.CreateActionImpl:
		m, err := meta.Accessor(act.Object)
		if err != nil {
			return true, nil, err
		}
		if m.GetName() == "" && m.GetGenerateName() != "" {
			m.SetName(m.GetGenerateName() + strconv.FormatInt(s.rv+1, 36))
		}
		m.SetResourceVersion(s.next())
		if m.GetGeneration() == 0 {
			m.SetGeneration(1)
		}
		if err := tr.Create(gvr, act.Object, ns); err != nil {
			return true, nil, err
		}
		s.logWrite("create", a, m.GetName(), m.GetResourceVersion())
		return true, act.Object.DeepCopyObject(), nil
	case k8stesting.UpdateActionImpl:
		m, err := meta.Accessor(act.Object)
		if err != nil {
			return true, nil, err
		}
		cur, err := tr.Get(gvr, ns, m.GetName())
		if err != nil {
			return true, nil, err
		}
		cm, _ := meta.Accessor(cur)
		if rv := m.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
			return true, nil, conflict(a, m.GetName(), rv, cm.GetResourceVersion())
		}
		obj := act.Object.DeepCopyObject()
		om, _ := meta.Accessor(obj)
		if act.Subresource == "" {
			keepStatus(cur, obj)
		}
		om.SetGeneration(generation(cur, obj))
		om.SetResourceVersion(s.next())
		if err := tr.Update(gvr, obj, ns); err != nil {
			return true, nil, err
		}
		s.logWrite("update", a, om.GetName(), om.GetResourceVersion())
		return true, obj.DeepCopyObject(), nil
	case k8stesting.PatchActionImpl:
		if act.PatchType == types.ApplyPatchType {
			return false, nil, nil
		}
		cur, err := tr.Get(gvr, ns, act.Name)
		if err != nil {
			return true, nil, err
		}
		cm, _ := meta.Accessor(cur)
		var pre struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if act.PatchType != types.JSONPatchType {
			if err := json.Unmarshal(act.Patch, &pre); err != nil {
				return true, nil, apierrors.NewBadRequest(err.Error())
			}
		}
		if rv := pre.Metadata.ResourceVersion; rv != "" && rv != cm.GetResourceVersion() {
			return true, nil, conflict(a, act.Name, rv, cm.GetResourceVersion())
		}
		orig, err := json.Marshal(cur)
		if err != nil {
			return true, nil, err
		}
		var out []byte
		switch act.PatchType {
		case types.MergePatchType:
			out, err = jsonpatch.MergePatch(orig, act.Patch)
		case types.StrategicMergePatchType:
			out, err = strategicpatch.StrategicMergePatch(orig, act.Patch, cur)
		case types.JSONPatchType:
			var p jsonpatch.Patch
			if p, err = jsonpatch.DecodePatch(act.Patch); err != nil {
				return true, nil, apierrors.NewBadRequest(err.Error())
			}
			if out, err = p.Apply(orig); err != nil {
				// as the API server answers a patch that does not apply
				// (a failed "test" operation among them): 422 Invalid
				return true, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
			}
		default:
			return false, nil, nil
		}
		if err != nil {
			return true, nil, apierrors.NewBadRequest(err.Error())
		}
		obj := reflect.New(reflect.TypeOf(cur).Elem()).Interface().(runtime.Object)
		if err := json.Unmarshal(out, obj); err != nil {
			return true, nil, apierrors.NewBadRequest(err.Error())
		}
		om, _ := meta.Accessor(obj)
		om.SetGeneration(generation(cur, obj))
		om.SetResourceVersion(s.next())
		if err := tr.Update(gvr, obj, ns); err != nil {
			return true, nil, err
		}
		s.logWrite("patch", a, act.Name, om.GetResourceVersion())
		return true, obj.DeepCopyObject(), nil
	case k8stesting.DeleteActionImpl:
		cur, err := tr.Get(gvr, ns, act.Name)
		if err != nil {
			return true, nil, err
		}
		cm, _ := meta.Accessor(cur)
		if p := act.DeleteOptions.Preconditions; p != nil {
			if p.ResourceVersion != nil && *p.ResourceVersion != cm.GetResourceVersion() {
				return true, nil, conflict(a, act.Name, *p.ResourceVersion, cm.GetResourceVersion())
			}
			if p.UID != nil && *p.UID != cm.GetUID() {
				return true, nil, conflict(a, act.Name, string(*p.UID), string(cm.GetUID()))
			}
		}
		if err := tr.Delete(gvr, ns, act.Name); err != nil {
			return true, nil, err
		}
		s.logWrite("delete", a, act.Name, "")
		return true, nil, nil
	}
	return false, nil, nil
}

func conflict(a k8stesting.Action, name, sent, stored string) error {
	return apierrors.NewConflict(a.GetResource().GroupResource(), name,
		fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again (sent resourceVersion %s, stored %s)", sent, stored))
}

// keepStatus carries a Deployment's stored status over an update of its
// main resource, as the API server does.
func keepStatus(cur, next runtime.Object) {
	c, ok1 := cur.(*appsv1.Deployment)
	n, ok2 := next.(*appsv1.Deployment)
	if ok1 && ok2 {
		n.Status = c.Status
	}
}

// generation is next's generation: the stored one, plus one when a
// Deployment's spec changed.
func generation(cur, next runtime.Object) int64 {
	cm, _ := meta.Accessor(cur)
	g := cm.GetGeneration()
	c, ok1 := cur.(*appsv1.Deployment)
	n, ok2 := next.(*appsv1.Deployment)
	if ok1 && ok2 {
		a, _ := json.Marshal(c.Spec)
		b, _ := json.Marshal(n.Spec)
		if string(a) != string(b) {
			g++
		}
	}
	return g
}

// Store performs action a on the store as the clientset would, from inside
// a reactor a test prepends (one that lets a write through, then answers
// otherwise, as a server whose answer was lost).
func (s *Strict) Store(a k8stesting.Action) (runtime.Object, error) {
	handled, obj, err := s.react(a)
	if !handled {
		return nil, fmt.Errorf("kubetest: %s %s is not handled by Store", a.GetVerb(), a.GetResource().Resource)
	}
	return obj, err
}
