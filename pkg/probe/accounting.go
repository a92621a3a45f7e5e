package probe

import (
	"errors"
	"net/url"
	"time"
)

// record judges one answered (or failed) request.
func (p *Probe) record(at, lat time.Duration, status int, version string, err error, timedOut bool) {
	kind, detail := "", ""
	switch {
	case err != nil:
		kind, detail = Classify(err, timedOut), errorText(err)
	case !p.expect.Match(status):
		kind = StatusKind(status)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if version != "" {
		if p.rep.Versions == nil {
			p.rep.Versions = map[string]VersionCount{}
		}
		if _, known := p.rep.Versions[version]; !known && len(p.rep.Versions) >= MaxVersions {
			version = OtherVersions
		}
		c := p.rep.Versions[version]
		if kind == "" {
			c.Succeeded++
		} else {
			c.Failed++
		}
		p.rep.Versions[version] = c
	}
	p.countSecond(at, err == nil, version, kind != "")
	if kind == "" {
		p.rep.Succeeded++
		p.hist.add(lat)
		return
	}
	p.rep.Failed++
	if p.rep.FailedByKind == nil {
		p.rep.FailedByKind = map[string]int{}
	}
	p.rep.FailedByKind[kind]++
	p.group(at, kind, p.secrets.Redact(detail))
	if p.o.MaxFailed >= 0 && p.rep.Failed > p.o.MaxFailed && !p.rep.Exceeded {
		p.rep.Exceeded = true
		t := p.start.Add(at)
		p.rep.ExceededAt = &t
		close(p.exceeded)
	}
}

// NoAnswer is the version, in PerSecond, of the requests that got no
// answer (refused, timeout, ...).
const NoAnswer = ""

// Second is the requests of one second of a probe: those due from At to
// At+1s, judged, per version (the version header's value, NoVersion for an
// answer without it or when no header is named, NoAnswer for none).
type Second struct {
	At       time.Time
	Versions map[string]VersionCount
}

// maxSeconds bounds PerSecond (a day; MaxDurationLimit is less).
const maxSeconds = 24 * 60 * 60

// countSecond counts a judged request in its second (p.mu held).
func (p *Probe) countSecond(at time.Duration, answered bool, version string, failed bool) {
	i := int(at / time.Second)
	if i < 0 || i >= maxSeconds {
		return
	}
	for len(p.seconds) <= i {
		p.seconds = append(p.seconds, nil)
	}
	switch {
	case !answered:
		version = NoAnswer
	case version == "":
		version = NoVersion
	}
	if p.seconds[i] == nil {
		p.seconds[i] = map[string]VersionCount{}
	}
	c := p.seconds[i][version]
	if failed {
		c.Failed++
	} else {
		c.Succeeded++
	}
	p.seconds[i][version] = c
}

// PerSecond is the requests judged so far, per second of the probe (from
// its Start) and version: the request rate and failures of the release's
// picture. Seconds with no judged request are left out.
func (p *Probe) PerSecond() []Second {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Second
	for i, m := range p.seconds {
		if len(m) == 0 {
			continue
		}
		s := Second{At: p.start.Add(time.Duration(i) * time.Second), Versions: make(map[string]VersionCount, len(m))}
		for v, c := range m {
			s.Versions[v] = c
		}
		out = append(out, s)
	}
	return out
}

// group adds a failure to the open group of its kind when it was sent
// within a second of that group's last one, else opens a group.
func (p *Probe) group(at time.Duration, kind, detail string) {
	secs := at.Seconds()
	for i := len(p.rep.Failures) - 1; i >= 0; i-- {
		g := &p.rep.Failures[i]
		if g.Kind != kind {
			continue
		}
		if secs-g.LastSeconds <= 1 && secs >= g.AtSeconds-1 {
			g.Count++
			g.LastSeconds = max(g.LastSeconds, secs)
			g.AtSeconds = min(g.AtSeconds, secs)
			g.Time = p.start.Add(time.Duration(g.AtSeconds * float64(time.Second)))
			return
		}
		break
	}
	if len(p.rep.Failures) >= MaxFailureGroups {
		p.rep.FailureGroupsDropped++
		return
	}
	p.rep.Failures = append(p.rep.Failures, FailureGroup{
		Time: p.start.Add(at), AtSeconds: secs, LastSeconds: secs, Kind: kind, Count: 1, Detail: detail,
	})
}

// errorText is an error without the `Get "URL": ` every request error
// starts with.
func errorText(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}
