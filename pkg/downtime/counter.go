package downtime

import (
	"maps"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpointKey is what an endpoint is: its target (kind, namespace, name),
// or its first address when it has none. A pod's key leaves the namespace
// out (the slices and their pods share the Service's).
type endpointKey struct{ kind, namespace, name string }

// hash is the pod-template-hash an endpoint counts under: its pod's, from
// hashes, or UnknownHash (not a pod, or a pod not seen or without one).
func (k endpointKey) hash(hashes map[string]string) string {
	if k.kind == "Pod" {
		if h := hashes[k.name]; h != "" {
			return h
		}
	}
	return UnknownHash
}

// readyKey is the key of a ready endpoint, and false for one that is not
// ready or names nothing. An endpoint whose ready condition is unset counts
// as ready, as the EndpointSlice API specifies.
func readyKey(ep *discoveryv1.Endpoint) (endpointKey, bool) {
	if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
		return endpointKey{}, false
	}
	switch {
	case ep.TargetRef != nil && ep.TargetRef.Kind == "Pod":
		return endpointKey{kind: "Pod", name: ep.TargetRef.Name}, true
	case ep.TargetRef != nil:
		return endpointKey{ep.TargetRef.Kind, ep.TargetRef.Namespace, ep.TargetRef.Name}, true
	case len(ep.Addresses) > 0:
		return endpointKey{kind: "address", name: ep.Addresses[0]}, true
	}
	return endpointKey{}, false
}

// readyCounter is CountReady kept up to date by difference: a slice event
// recounts only the slice that changed (its resourceVersion moved), and a
// pod whose hash became known moves its one endpoint. At 1,000 replicas a
// release brings thousands of slice events, and counting every endpoint
// of every slice at each of them was a quarter of the client's CPU.
type readyCounter struct {
	slices  map[string]sliceMemo // by namespace/name
	counted map[endpointKey]*counted
	byHash  map[string]int
}

// counted is one ready endpoint: in how many slices it is ready, and the
// hash it is counted under.
type counted struct {
	refs int
	hash string
}

// sliceMemo is what one slice contributed when it was last counted.
type sliceMemo struct {
	resourceVersion string
	keys            []endpointKey
}

func newReadyCounter() *readyCounter {
	return &readyCounter{slices: map[string]sliceMemo{}, counted: map[endpointKey]*counted{}, byHash: map[string]int{}}
}

// count brings the account to slices (the whole current set) and returns
// what CountReady(slices, hashes) returns; byHash is the caller's copy.
func (c *readyCounter) count(slices []*discoveryv1.EndpointSlice, hashes map[string]string) (int, map[string]int) {
	present := make(map[string]bool, len(slices))
	for _, sl := range slices {
		id := sl.Namespace + "/" + sl.Name
		present[id] = true
		old, had := c.slices[id]
		// a slice with no resourceVersion (never from an API server) is
		// counted again every time
		if had && sl.ResourceVersion != "" && old.resourceVersion == sl.ResourceVersion {
			continue
		}
		memo := sliceMemo{resourceVersion: sl.ResourceVersion, keys: make([]endpointKey, 0, len(sl.Endpoints))}
		for i := range sl.Endpoints {
			if k, ok := readyKey(&sl.Endpoints[i]); ok {
				memo.keys = append(memo.keys, k)
				c.add(k, hashes)
			}
		}
		for _, k := range old.keys {
			c.remove(k)
		}
		c.slices[id] = memo
	}
	for id, memo := range c.slices {
		if !present[id] {
			for _, k := range memo.keys {
				c.remove(k)
			}
			delete(c.slices, id)
		}
	}
	return len(c.counted), maps.Clone(c.byHash)
}

// setHash records that pod's hash is now h ("" once the pod is gone or
// has none): its endpoint, if counted, moves to the new hash.
func (c *readyCounter) setHash(pod, h string) {
	if h == "" {
		h = UnknownHash
	}
	e := c.counted[endpointKey{kind: "Pod", name: pod}]
	if e == nil || e.hash == h {
		return
	}
	c.uncount(e.hash)
	e.hash = h
	c.byHash[h]++
}

func (c *readyCounter) add(k endpointKey, hashes map[string]string) {
	if e := c.counted[k]; e != nil {
		e.refs++
		return
	}
	h := k.hash(hashes)
	c.counted[k] = &counted{refs: 1, hash: h}
	c.byHash[h]++
}

func (c *readyCounter) remove(k endpointKey) {
	e := c.counted[k]
	if e.refs--; e.refs > 0 {
		return
	}
	delete(c.counted, k)
	c.uncount(e.hash)
}

func (c *readyCounter) uncount(h string) {
	if c.byHash[h]--; c.byHash[h] <= 0 {
		delete(c.byHash, h)
	}
}
