// Command traffictable turns the JSON lines of the traffic bench
// (test/e2e/traffic_bench_test.go, run by bench/traffic.sh) into a Markdown
// table: each strategy released by plain kubectl and by kubectl zdd, on the
// naive and the zero-downtime manifest, with the requests failed out of
// those sent over all runs, the worst run, and the p99 latency.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type line struct {
	Strategy, Manifest, Tool string
	Run, Exit                int
	Seconds                  float64
	Sent, Failed             int
	ByKind                   map[string]int
	P99ms                    float64
}

type cell struct {
	runs, sent, failed, worst int
	exits                     map[int]int
	kinds                     map[string]int
	p99                       []float64
	seconds                   []float64
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "traffictable: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	cells := map[[3]string]*cell{}
	var order [][3]string
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		k := [3]string{l.Strategy, l.Manifest, l.Tool}
		c := cells[k]
		if c == nil {
			c = &cell{exits: map[int]int{}, kinds: map[string]int{}}
			cells[k] = c
			order = append(order, k)
		}
		c.runs++
		c.sent += l.Sent
		c.failed += l.Failed
		c.worst = max(c.worst, l.Failed)
		c.exits[l.Exit]++
		for kind, v := range l.ByKind {
			c.kinds[kind] += v
		}
		c.p99 = append(c.p99, l.P99ms)
		c.seconds = append(c.seconds, l.Seconds)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("no results")
	}
	fmt.Fprintln(out, "| strategy | manifest | tool | runs | failed / sent | worst run | kinds | p99 (median of runs) | release time (median) | exit codes |")
	fmt.Fprintln(out, "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |")
	for _, k := range order {
		c := cells[k]
		fmt.Fprintf(out, "| %s | %s | %s | %d | %d / %d | %d | %s | %.1f ms | %.1f s | %s |\n",
			k[0], k[1], k[2], c.runs, c.failed, c.sent, c.worst, kinds(c.kinds), median(c.p99), median(c.seconds), exits(c.exits))
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func kinds(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func exits(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%d", m[k], k)
	}
	return strings.Join(parts, " ")
}
