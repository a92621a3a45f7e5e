package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

type key struct {
	op   string
	size int
}

// table is the Markdown table of the medians: per operation and size, the
// wall time of each side and their ratio, the API requests of each side and
// kubectl zdd's peak memory and CPU time.
func table(all []Result) string {
	groups := map[key]map[string][]Result{}
	var keys []key
	for _, r := range all {
		k := key{r.Op, r.Size}
		if groups[k] == nil {
			groups[k] = map[string][]Result{}
			keys = append(keys, k)
		}
		groups[k][r.Side] = append(groups[k][r.Side], r)
	}
	var b strings.Builder
	b.WriteString("| operation | replicas | kubectl zdd | controllers alone | ratio | API requests (zdd / kubectl) | zdd peak memory | zdd CPU | API server CPU (zdd / kubectl) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range keys {
		z, c := groups[k]["zdd"], groups[k]["kubectl"]
		zs, cs := median(z, func(r Result) float64 { return r.Seconds }), median(c, func(r Result) float64 { return r.Seconds })
		var peak int64
		for _, r := range z {
			if r.PeakKiB > peak {
				peak = r.PeakKiB
			}
		}
		apiCPU := func(r Result) float64 { return r.ClusterCPU["kube-apiserver"] }
		fmt.Fprintf(&b, "| %s | %d | %.1f s | %.1f s | %.2fx | %.0f / %.0f | %.0f MiB | %.1f s | %.1f s / %.1f s |\n", k.op, k.size, zs, cs, zs/cs,
			median(z, func(r Result) float64 { return float64(r.Requests) }),
			median(c, func(r Result) float64 { return float64(r.Requests) }), float64(peak)/1024,
			median(z, func(r Result) float64 { return r.CPUSeconds }), median(z, apiCPU), median(c, apiCPU))
	}
	return b.String()
}

func median(rs []Result, f func(Result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// overBudget compares kubectl zdd's median requests per operation and size
// with the budget file (lines "OP REQUESTS", # comments) and says which are
// above twice their budget, or have none.
func overBudget(all []Result, path string) []string {
	f, err := os.Open(path)
	must(err)
	defer f.Close()
	budgets := map[string]float64{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		fs := strings.Fields(t)
		n, err := strconv.ParseFloat(fs[len(fs)-1], 64)
		if len(fs) != 2 || err != nil {
			fail("%s:%d: want OP REQUESTS, got %q", path, line, t)
		}
		budgets[fs[0]] = n
	}
	must(sc.Err())
	per := map[key][]Result{}
	var keys []key
	for _, r := range all {
		if r.Side != "zdd" {
			continue
		}
		k := key{r.Op, r.Size}
		if per[k] == nil {
			keys = append(keys, k)
		}
		per[k] = append(per[k], r)
	}
	var msgs []string
	for _, k := range keys {
		got := median(per[k], func(r Result) float64 { return float64(r.Requests) })
		b, ok := budgets[k.op]
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("%s: no budget in %s", k.op, path))
		case got > 2*b:
			msgs = append(msgs, fmt.Sprintf("%s at %d replicas: %.0f API requests, more than twice the budget of %.0f", k.op, k.size, got, b))
		}
	}
	return msgs
}
