package lint

import (
	"io"
	"os"
	"testing"
)

// benchCorpus is the corpus named by $ZDD_BENCH_CORPUS (bench/lint.sh
// generates them), else the example set.
func benchCorpus() string {
	if f := os.Getenv("ZDD_BENCH_CORPUS"); f != "" {
		return f
	}
	return "../../examples/bad"
}

// BenchmarkLoadAndAudit loads a manifest file whole and audits it (LoadFiles
// and Audit, as --fix does).
func BenchmarkLoadAndAudit(b *testing.B) {
	file := benchCorpus()
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

// BenchmarkLintFiles is what `kubectl zdd lint -f FILE -o json` does: the
// streaming LintFiles, and the JSON report.
func BenchmarkLintFiles(b *testing.B) {
	file := benchCorpus()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		res, err := LintFiles(LoadOptions{Filenames: []string{file}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Objects == 0 {
			b.Fatal("no objects audited")
		}
		rep := &Report{Objects: res.Objects, Skipped: res.Skipped, Findings: res.Findings}
		if err := rep.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
