package lint

import (
	"os"
	"testing"
)

// BenchmarkLoadAndAudit loads and audits a manifest file: the corpus named by
// $ZDD_BENCH_CORPUS (bench/lint.sh generates one), else the example set.
func BenchmarkLoadAndAudit(b *testing.B) {
	file := os.Getenv("ZDD_BENCH_CORPUS")
	if file == "" {
		file = "../../examples/bad"
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		loaded, err := LoadFiles(LoadOptions{Filenames: []string{file}, DropRaw: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(loaded.Objects) == 0 {
			b.Fatal("no objects loaded")
		}
		_ = Audit(loaded.Objects, Options{})
	}
}
