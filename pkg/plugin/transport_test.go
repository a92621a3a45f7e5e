package plugin

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// TestWatchesUncompressed: the clients the factory builds ask for watch
// streams without gzip, and for lists with it (client-go's transport adds
// gzip to a request that names no encoding).
func TestWatchesUncompressed(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // "watch" or "list" -> Accept-Encoding
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "list"
		if r.URL.Query().Get("watch") == "true" {
			kind = "watch"
		}
		mu.Lock()
		got[kind] = r.Header.Get("Accept-Encoding")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if kind == "watch" {
			w.WriteHeader(http.StatusOK) // an empty stream: the watch ends
			return
		}
		_, _ = w.Write([]byte(`{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`))
	}))
	defer srv.Close()

	flags := genericclioptions.NewConfigFlags(false)
	flags.APIServer = &srv.URL
	cs, err := NewFactory(flags).KubernetesClientSet()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cs.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Pods("ns").Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for range w.ResultChan() {
	}
	mu.Lock()
	defer mu.Unlock()
	if got["watch"] != "identity" {
		t.Errorf("a watch asked for Accept-Encoding %q, want identity", got["watch"])
	}
	if got["list"] != "gzip" {
		t.Errorf("a list asked for Accept-Encoding %q, want gzip (client-go's default)", got["list"])
	}
}
