package report

import (
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
	"math"
	"strconv"
	"strings"
	"time"
)

// niceSteps are the tick intervals of the time axis.
var niceSteps = []time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// tickStep is the smallest nice interval that leaves at least minGap units
// of room between ticks over room units.
func tickStep(span time.Duration, room, minGap int) time.Duration {
	room = max(room, minGap)
	for _, s := range niceSteps {
		if float64(span)/float64(s)*float64(minGap) <= float64(room) {
			return s
		}
	}
	// more than days: whole days, as many as it takes
	day := 24 * time.Hour
	n := time.Duration(math.Ceil(float64(span) / float64(day) * float64(minGap) / float64(room)))
	return max(n, 1) * day
}

// axisLines draws the axis under the chart and the time labels under its
// ticks (the end's label last, right-aligned under the last column). The
// labels may run into the suffix column, up to room.
func axisLines(d *Data, cols, room int, g glyphs) (string, string) {
	span := d.span()
	step := tickStep(span, cols, 9)
	axis := make([]string, cols)
	for i := range axis {
		axis[i] = g.axis
	}
	labels := []rune(strings.Repeat(" ", room))
	used := make([]bool, room)
	place := func(at int, text string) bool {
		n := len([]rune(text))
		if at < 0 || at+n > room {
			return false
		}
		for i := max(at-1, 0); i < min(at+n+1, room); i++ {
			if used[i] {
				return false
			}
		}
		copy(labels[at:], []rune(text))
		for i := at; i < at+n; i++ {
			used[i] = true
		}
		return true
	}
	endLabel := formatDuration(span, true)
	place(max(cols-len(endLabel), 0), endLabel)
	axis[cols-1] = g.tick
	for t := time.Duration(0); t < span; t += step {
		c := colOf(d, d.Start.Add(t), cols)
		if place(c, formatDuration(t, false)) {
			axis[c] = g.tick
		}
	}
	return strings.Join(axis, ""), string(labels)
}

// phaseLines draws the phase marks under the axis: a marker at each
// phase's column, and its name under it on the first of maxPhaseRows lines
// where it fits. When they do not all fit, the markers are numbered and
// the names listed after them, wrapped to the width.
func phaseLines(d *Data, cols, room int, g glyphs, ascii bool) []string {
	if len(d.Phases) == 0 {
		return nil
	}
	markers := []rune(strings.Repeat(" ", cols))
	at := make([]int, len(d.Phases))
	for i, p := range d.Phases {
		at[i] = colOf(d, p.Time, cols)
		markers[at[i]] = []rune(g.marker)[0]
	}
	var rows [][]rune
	var used [][]bool
	fits := true
	for i, p := range d.Phases {
		name := []rune(terminal.Truncate(p.Name, room, ascii))
		start := min(at[i], room-len(name))
		placed := false
		for r := 0; r < maxPhaseRows && !placed; r++ {
			if r == len(rows) {
				rows = append(rows, []rune(strings.Repeat(" ", room)))
				used = append(used, make([]bool, room))
			}
			free := true
			for c := max(start-1, 0); c < min(start+len(name)+1, room); c++ {
				if used[r][c] {
					free = false
					break
				}
			}
			if !free {
				continue
			}
			copy(rows[r][start:], name)
			for c := start; c < start+len(name); c++ {
				used[r][c] = true
			}
			placed = true
		}
		if !placed {
			fits = false
			break
		}
	}
	if fits {
		out := []string{string(markers)}
		for _, r := range rows {
			out = append(out, string(r))
		}
		return out
	}
	// numbered: 1-9, then a-z, then * for the rest
	markers = []rune(strings.Repeat(" ", cols))
	var legend []string
	for i, p := range d.Phases {
		mark := "*"
		switch {
		case i < 9:
			mark = strconv.Itoa(i + 1)
		case i < 9+26:
			mark = string(rune('a' + i - 9))
		}
		if markers[at[i]] == ' ' {
			markers[at[i]] = []rune(mark)[0]
		}
		legend = append(legend, mark+" "+p.Name+" +"+formatDuration(p.Time.Sub(d.Start), false))
	}
	out := []string{string(markers)}
	sep := " · "
	if ascii {
		sep = ", "
	}
	out = append(out, terminal.Wrap(strings.Join(legend, sep), room)...)
	return out
}

// formatDuration writes a duration as a person reads it on an axis: 0s,
// 500ms, 1.5s, 45s, 1m, 1m30s, 2h5m. exact keeps a tenth of a second under
// ten seconds; otherwise seconds are whole.
func formatDuration(d time.Duration, exact bool) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return strconv.Itoa(int(d.Round(time.Millisecond)/time.Millisecond)) + "ms"
	}
	if d < 10*time.Second && exact {
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	}
	if d < time.Minute {
		if d%time.Second != 0 && d < 10*time.Second {
			return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
		}
		return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		b.WriteString(strconv.Itoa(h) + "h")
	}
	if m > 0 {
		b.WriteString(strconv.Itoa(m) + "m")
	}
	if s > 0 && h == 0 {
		b.WriteString(strconv.Itoa(s) + "s")
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// formatRate writes a rate with two significant figures at most.
func formatRate(r float64) string {
	switch {
	case r >= 100:
		return strconv.Itoa(int(math.Round(r)))
	case r >= 10:
		return strconv.FormatFloat(math.Round(r), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(r*10)/10, 'f', -1, 64)
}
