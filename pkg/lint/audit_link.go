package lint

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// pair is one label key=value.
type pair struct{ k, v string }

// selIndex finds, among many selectors of one namespace, those that match a
// set of labels without trying each: every selector is filed under the
// rarest key=value of its matchLabels (selectors with none are tried always).
type selIndex struct {
	byPair map[pair][]int
	always []int
}

func newSelIndex(required []map[string]string) *selIndex {
	count := map[pair]int{}
	for _, m := range required {
		for k, v := range m {
			count[pair{k, v}]++
		}
	}
	x := &selIndex{byPair: map[pair][]int{}}
	for i, m := range required {
		best, bestN := pair{}, -1
		for k, v := range m {
			p := pair{k, v}
			if n := count[p]; bestN < 0 || n < bestN || (n == bestN && (p.k < best.k || (p.k == best.k && p.v < best.v))) {
				best, bestN = p, n
			}
		}
		if bestN < 0 {
			x.always = append(x.always, i)
		} else {
			x.byPair[best] = append(x.byPair[best], i)
		}
	}
	return x
}

// candidates calls f with every selector that may match lbls.
func (x *selIndex) candidates(lbls map[string]string, f func(i int)) {
	for k, v := range lbls {
		for _, i := range x.byPair[pair{k, v}] {
			f(i)
		}
	}
	for _, i := range x.always {
		f(i)
	}
}

func subset(sel, lbls map[string]string) bool {
	for k, v := range sel {
		if lv, ok := lbls[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// link computes the cross-object facts of a workload: which Services and
// PDBs of the input select its pods, which HPA scales it, and which of its
// containers receive Service traffic; and, the other way, that its
// Services select something and what its PDBs cover.
func (a *auditor) link(it *item) {
	w := it.w
	if w == nil {
		return
	}
	if w.hasScale {
		w.hpa = a.hpas[target{nsKey(it.obj), w.kind, it.obj.Name}]
	}
	w.traffic = make([]bool, len(w.tmpl.Spec.Containers))
	n := a.byNS[nsKey(it.obj)]
	if n == nil || w.job != nil {
		return
	}
	a.seeWorkload(n)
	lbls := w.tmpl.Labels
	n.svcIdx.candidates(lbls, func(i int) {
		s := n.svcs[i]
		if subset(s.s.Spec.Selector, lbls) {
			s.matched = true
			w.services = append(w.services, s)
			markTraffic(w, s.s)
		}
	})
	n.pdbIdx.candidates(lbls, func(i int) {
		p := n.pdbs[i]
		if p.sel.Matches(labels.Set(lbls)) {
			w.pdbs = append(w.pdbs, p)
			pods, ok := w.expected()
			p.covered = append(p.covered, coveredPods{pods, ok})
		}
	})
}

// markTraffic marks the containers of w that a port of Service s reaches:
// the one declaring the targetPort (by name, or by number). When no container
// declares it (ports are informational), the first container is taken to
// listen on it.
func markTraffic(w *workload, s *corev1.Service) {
	cs := w.tmpl.Spec.Containers
	if len(cs) == 0 {
		return
	}
	for _, sp := range s.Spec.Ports {
		tp := sp.TargetPort
		found := false
		for i := range cs {
			for _, cp := range cs[i].Ports {
				if (tp.Type == intstr.String && tp.StrVal != "" && cp.Name == tp.StrVal) ||
					(tp.Type == intstr.Int && tp.IntVal != 0 && cp.ContainerPort == tp.IntVal) ||
					(tp.Type == intstr.Int && tp.IntVal == 0 && cp.ContainerPort == sp.Port) {
					w.traffic[i] = true
					found = true
				}
			}
		}
		if !found {
			w.traffic[0] = true
		}
	}
	if len(s.Spec.Ports) == 0 {
		w.traffic[0] = true
	}
}
