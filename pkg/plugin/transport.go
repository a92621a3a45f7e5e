package plugin

import (
	"net/http"
)

// uncompressedWatches asks the API server not to gzip watch streams. A
// watch is a stream of small events, each flushed on its own: gzip saves
// little on them and costs both ends CPU at every event. A release at 1,000
// replicas watches every pod of its Deployment, and a CPU profile of
// `kubectl zdd rollout` there (--profile cpu) spent 15% of the client's time
// inflating its watches; the API server, which compresses each watcher's
// stream separately, spent more, on the machine the controllers run on.
// Lists and single reads stay compressed: a list of 1,000 pods is one large
// response, and over a slow link to a remote cluster that pays.
type uncompressedWatches struct{ next http.RoundTripper }

func (t uncompressedWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	if q := req.URL.Query().Get("watch"); (q == "true" || q == "1") && req.Header.Get("Accept-Encoding") == "" {
		req = req.Clone(req.Context())
		// a request that names its encoding is not decompressed by the
		// transport, and identity is what the stream then comes in
		req.Header.Set("Accept-Encoding", "identity")
	}
	return t.next.RoundTrip(req)
}
