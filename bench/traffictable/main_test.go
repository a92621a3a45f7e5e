package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `{"Strategy":"rolling","Manifest":"naive","Tool":"kubectl","Run":1,"Exit":0,"Seconds":9,"Sent":3000,"Failed":30,"ByKind":{"refused":10,"timeout":20},"P99ms":4}
{"Strategy":"rolling","Manifest":"naive","Tool":"kubectl","Run":2,"Exit":0,"Seconds":11,"Sent":3100,"Failed":40,"ByKind":{"refused":40},"P99ms":6}
{"Strategy":"rolling","Manifest":"zero-downtime","Tool":"kubectl zdd","Run":1,"Exit":0,"Seconds":20,"Sent":3300,"Failed":0,"P99ms":3}
`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| rolling | naive | kubectl | 2 | 70 / 6100 | 40 | refused 50, timeout 20 | 6.0 ms | 11.0 s | 2×0 |",
		"| rolling | zero-downtime | kubectl zdd | 1 | 0 / 3300 | 0 | - | 3.0 ms | 20.0 s | 1×0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(strings.NewReader("{bad"), &out); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad input: %v", err)
	}
}
