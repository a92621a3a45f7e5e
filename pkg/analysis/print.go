package analysis

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// PrintTable prints the measurements of res as a table (time, metric, value,
// limit, verdict, message) followed by the verdict.
func PrintTable(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tMETRIC\tVALUE\tLIMIT\tVERDICT\tMESSAGE")
	for _, m := range res.Measurements {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Time.UTC().Format(time.TimeOnly), m.Metric,
			valueText(m.Value), limitText(m.Min, m.Max), m.Verdict, m.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "analysis %s: %s\n", res.Verdict, res.Message)
	return err
}

// measurementLine is the progress line the Runner writes to Out.
func measurementLine(m Measurement) string {
	s := fmt.Sprintf("analysis: %s %s value=%s limit=%s %s", m.Time.UTC().Format(time.TimeOnly), m.Metric,
		valueText(m.Value), limitText(m.Min, m.Max), m.Verdict)
	if m.Message != "" {
		s += ": " + m.Message
	}
	return s
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func valueText(v *float64) string {
	if v == nil {
		return "-"
	}
	return formatValue(*v)
}

func limitText(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return formatValue(*lo) + ".." + formatValue(*hi)
	case lo != nil:
		return ">=" + formatValue(*lo)
	case hi != nil:
		return "<=" + formatValue(*hi)
	}
	return "-"
}
