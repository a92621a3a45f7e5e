package downtime

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// TestReadyCounterAgreesWithCountReady: through random slice changes (an
// endpoint's readiness flipped, pods added and removed, a pod moved to or
// also held by another slice, slices created and deleted, slices without a
// resourceVersion) and pod hashes learned, changed and forgotten, the
// counter kept by difference gives exactly what counting everything again
// gives.
func TestReadyCounterAgreesWithCountReady(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := newReadyCounter()
		hashes := map[string]string{}
		slices := map[string]*discoveryv1.EndpointSlice{}
		rv := 0
		pod := func() string { return fmt.Sprintf("p%d", rng.IntN(30)) }
		// a slice is replaced, never changed in place, as in an informer
		edit := func(name string, f func(*discoveryv1.EndpointSlice)) {
			var sl *discoveryv1.EndpointSlice
			if old := slices[name]; old != nil {
				sl = old.DeepCopy()
			} else {
				sl = slice(name)
			}
			f(sl)
			rv++
			sl.ResourceVersion = strconv.Itoa(rv)
			if rng.IntN(10) == 0 {
				sl.ResourceVersion = "" // as a fake clientset leaves it
			}
			slices[name] = sl
		}
		for step := 0; step < 300; step++ {
			name := fmt.Sprintf("s%d", rng.IntN(4))
			switch rng.IntN(8) {
			case 0, 1: // an endpoint comes, ready or not or unset
				var ready *bool
				if r := rng.IntN(3); r < 2 {
					ready = ptr.To(r == 0)
				}
				e := ep(pod(), ready)
				switch rng.IntN(6) {
				case 0:
					e.TargetRef = nil // by address
				case 1:
					e.TargetRef = &corev1.ObjectReference{Kind: "Node", Name: "n" + strconv.Itoa(rng.IntN(3))}
				}
				edit(name, func(sl *discoveryv1.EndpointSlice) { sl.Endpoints = append(sl.Endpoints, e) })
			case 2: // an endpoint's readiness flips
				edit(name, func(sl *discoveryv1.EndpointSlice) {
					if n := len(sl.Endpoints); n > 0 {
						e := &sl.Endpoints[rng.IntN(n)]
						e.Conditions.Ready = ptr.To(e.Conditions.Ready != nil && !*e.Conditions.Ready)
					}
				})
			case 3: // an endpoint goes
				edit(name, func(sl *discoveryv1.EndpointSlice) {
					if n := len(sl.Endpoints); n > 0 {
						i := rng.IntN(n)
						sl.Endpoints = append(sl.Endpoints[:i], sl.Endpoints[i+1:]...)
					}
				})
			case 4: // a slice is deleted
				delete(slices, name)
			case 5: // a pod's hash is learned or changed
				p := pod()
				hashes[p] = "h" + strconv.Itoa(rng.IntN(3))
				c.setHash(p, hashes[p])
			case 6: // a pod is forgotten
				p := pod()
				delete(hashes, p)
				c.setHash(p, "")
			case 7: // nothing changed: an event of another slice
			}
			list := make([]*discoveryv1.EndpointSlice, 0, len(slices))
			for _, sl := range slices {
				list = append(list, sl)
			}
			rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
			n, by := c.count(list, hashes)
			wn, wby := CountReady(list, hashes)
			if n != wn || !maps.Equal(by, wby) {
				t.Fatalf("seed %d step %d: counter %d %v, counting again %d %v", seed, step, n, by, wn, wby)
			}
		}
	}
}

// The count at one slice event of a release of 1,000 replicas (1,100
// endpoints in 11 slices, one of which changed), kept by difference;
// BenchmarkCountReady counts every endpoint at every event.
func BenchmarkReadyCounterEvent(b *testing.B) {
	slices, hashes := releaseSlices()
	// each slice as it is, and with its first endpoint's readiness
	// flipped, as a pod's readiness changes
	versions := make([][2]*discoveryv1.EndpointSlice, len(slices))
	for i, sl := range slices {
		flipped := sl.DeepCopy()
		flipped.Endpoints[0].Conditions.Ready = ptr.To(!*sl.Endpoints[0].Conditions.Ready)
		versions[i] = [2]*discoveryv1.EndpointSlice{sl, flipped}
	}
	c := newReadyCounter()
	c.count(slices, hashes)
	rv := 1
	b.ReportAllocs()
	for b.Loop() {
		// one slice changes: the next version of it (shallow copies: no
		// endpoint is written)
		i := rv % len(slices)
		next := *versions[i][(rv/len(slices)+1)%2]
		rv++
		next.ResourceVersion = strconv.Itoa(rv)
		slices[i] = &next
		if n, _ := c.count(slices, hashes); n < 979 || n > 1001 {
			b.Fatalf("%d ready", n)
		}
	}
}
