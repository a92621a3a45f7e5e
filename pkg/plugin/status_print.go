package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func printStatusHeader(w io.Writer, allNS, wide bool) {
	if allNS {
		fmt.Fprint(w, "NAMESPACE\t")
	}
	fmt.Fprint(w, "OBJECT\tSTRATEGY\tPHASE\tRESULT\tREADY\tSTARTED\tLEASE\tDETAILS")
	if wide {
		fmt.Fprint(w, "\tOPERATION\tPARAMS")
	}
	fmt.Fprintln(w)
}

func printStatusRow(w io.Writer, it OperationStatus, allNS, wide bool, now time.Time) {
	op := it.Operation
	result := op.Result
	if result == "" {
		result = "in flight"
	}
	started := "-"
	if !op.StartTime.IsZero() {
		started = now.Sub(op.StartTime).Truncate(time.Second).String() + " ago"
	}
	lease := "none"
	if it.Lease != nil {
		if it.Lease.Renewing {
			lease = it.Lease.Holder
		} else {
			lease = it.Lease.Holder + " (stale)"
		}
	}
	details := operationDetails(op)
	if r := it.Requests; r != nil {
		// what the operation's request probe measured (--probe)
		details = append(details, fmt.Sprintf("failed requests %d/%d", r.Failed, r.Sent))
	}
	if allNS {
		fmt.Fprintf(w, "%s\t", it.Namespace)
	}
	fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", strings.ToLower(it.Kind), it.Name, op.Strategy, dash(op.Phase), result, it.Ready, started, lease, dash(strings.Join(details, ", ")))
	if wide {
		var params []string
		for _, k := range op.ParamKeys() {
			params = append(params, k+"="+shortParam(op.Params[k]))
		}
		fmt.Fprintf(w, "\t%s\t%s", op.ID, dash(strings.Join(params, " ")))
	}
	fmt.Fprintln(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
