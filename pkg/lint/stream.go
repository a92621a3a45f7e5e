package lint

import (
	"bytes"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Result is what LintFiles found.
type Result struct {
	// Objects is how many objects were audited.
	Objects  int
	Skipped  []Skipped
	Findings []Finding
	// Notes are what the user should know beside the skipped objects (see
	// Loaded.Notes).
	Notes []string
}

// workloadKinds are the kinds with a pod template, as a document's top-level
// kind line names them: documents of these kinds are decoded in the second
// pass, audited and dropped one at a time.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true}

// LintFiles reads the manifests opts names, as LoadFiles does, and audits
// them with aopts, keeping in memory only what the audit needs at once:
// the bytes of the files, the Services, PDBs and HPAs (the cross-object
// rules need all of them), the findings, and the workloads being audited.
//
// Local files and stdin are read in two passes. The first splits every file
// into documents and decodes those whose top-level kind is not a workload
// (Services, PDBs, HPAs, the kinds that are skipped, lists, JSON). The
// second decodes the workload documents on every CPU, and each decoded
// workload is linked to the Services, PDBs and HPAs, audited and dropped.
// Kustomize output and URLs are read whole by the resource builder and
// audited the same way.
func LintFiles(opts LoadOptions, aopts Options) (*Result, error) {
	if err := checkLoadOptions(opts); err != nil {
		return nil, err
	}
	s := &streamer{a: newAuditor(aopts), dd: &docDecoder{namespace: opts.Namespace}}
	w, err := walk(opts)
	if err != nil {
		return nil, err
	}
	// Kustomizations and charts found in folders are built first: the
	// files their builds read are not read again as plain files.
	units := &Loaded{Files: map[string][]byte{}, dropRaw: true, namespace: opts.Namespace}
	built, err := w.units(units, opts)
	if err != nil {
		return nil, err
	}
	for _, in := range w.inputs {
		if !in.stdin && built[absClean(in.path)] {
			continue
		}
		src, data, err := readInput(in, opts.Stdin)
		if err != nil {
			return nil, err
		}
		if sk, ok := jsoncSkip(src, data); ok {
			s.skipped = append(s.skipped, keyedSkipped{key: docKey{len(s.files), -1, 0}, s: sk})
			continue
		}
		if err := s.addFile(src, data); err != nil {
			return nil, err
		}
	}
	remote := w.remote
	if err := s.firstPass(); err != nil {
		return nil, err
	}
	for i := range units.Objects {
		s.take(&units.Objects[i])
	}
	for _, sk := range units.Skipped {
		s.skipped = append(s.skipped, keyedSkipped{key: docKey{len(s.files), 0, len(s.skipped)}, s: sk})
	}
	if len(remote) > 0 || opts.Kustomize != "" {
		// Read whole by the builder, as LoadFiles reads them.
		l, err := LoadFiles(LoadOptions{Filenames: remote, Kustomize: opts.Kustomize, Namespace: opts.Namespace, DropRaw: true})
		if err != nil {
			return nil, err
		}
		for i := range l.Objects {
			s.take(&l.Objects[i])
		}
		for _, sk := range l.Skipped {
			s.skipped = append(s.skipped, keyedSkipped{key: docKey{len(s.files), 0, len(s.skipped)}, s: sk})
		}
	}
	s.a.index()
	for _, o := range s.pending {
		s.a.auditWorkload(o)
	}
	s.pending = nil
	if err := s.secondPass(); err != nil {
		return nil, err
	}
	sort.Slice(s.skipped, func(i, j int) bool { return s.skipped[i].key.less(s.skipped[j].key) })
	res := &Result{Objects: s.objects, Findings: s.a.finish(), Notes: units.Notes}
	for _, k := range s.skipped {
		res.Skipped = append(res.Skipped, k.s)
	}
	return res, nil
}

type streamer struct {
	a  *auditor
	dd *docDecoder

	files []*streamFile
	// pending are workloads met in the first pass (items of lists, JSON
	// documents, kustomize output): audited once the context is complete.
	pending []*Object
	skipped []keyedSkipped
	objects int
}

type streamFile struct {
	src  string // the name the file was read as ("STDIN" for stdin)
	file string // the name findings carry
	data []byte
	docs []document
	// later are the indexes of the documents left to the second pass.
	later []int
}

// docKey orders documents: file, document, item.
type docKey struct{ file, doc, item int }

func (k docKey) less(o docKey) bool {
	if k.file != o.file {
		return k.file < o.file
	}
	if k.doc != o.doc {
		return k.doc < o.doc
	}
	return k.item < o.item
}

type keyedSkipped struct {
	key docKey
	s   Skipped
}

func (s *streamer) addFile(src string, data []byte) error {
	if err := checkSeparators(src, data); err != nil {
		return exitcode.UsageError(err)
	}
	file := src
	if src == stdinSource {
		file = "-"
	}
	s.files = append(s.files, &streamFile{src: src, file: file, data: data, docs: splitDocuments(data)})
	return nil
}

// topKind is the kind a YAML document's top-level "kind:" line names, or ""
// when there is no such line at the start of a line.
func topKind(d *document) string {
	if d.json {
		return ""
	}
	data := d.data
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if !bytes.HasPrefix(line, []byte("kind:")) {
			continue
		}
		v := string(bytes.TrimSpace(line[len("kind:"):]))
		if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		return strings.Trim(v, `"'`)
	}
	return ""
}

// decodeResult is one decoded document.
type decodeResult struct {
	key     docKey
	objs    []Object
	skipped []Skipped
	err     error
}

// firstPass decodes every document that is not a workload's.
func (s *streamer) firstPass() error {
	var jobs []docKey
	for fi, f := range s.files {
		for di := range f.docs {
			if workloadKinds[topKind(&f.docs[di])] {
				f.later = append(f.later, di)
			} else {
				jobs = append(jobs, docKey{fi, di, 0})
			}
		}
	}
	results := make([]decodeResult, len(jobs))
	parallel(len(jobs), func(i int) {
		results[i] = s.decode(jobs[i])
	})
	for i := range results {
		r := &results[i]
		if r.err != nil {
			return s.firstError(r.key, r.err)
		}
		s.keep(r)
	}
	return nil
}

func (s *streamer) decode(k docKey) decodeResult {
	f := s.files[k.file]
	objs, skipped, err := s.dd.decode(&f.docs[k.doc], f.file)
	return decodeResult{key: k, objs: objs, skipped: skipped, err: err}
}

// keep takes the objects of a first-pass document.
func (s *streamer) keep(r *decodeResult) {
	for i := range r.objs {
		s.take(&r.objs[i])
	}
	for i, sk := range r.skipped {
		s.skipped = append(s.skipped, keyedSkipped{key: docKey{r.key.file, r.key.doc, i}, s: sk})
	}
}

// take adds an object read before the context is complete.
func (s *streamer) take(o *Object) {
	if !o.Context {
		s.objects++
	}
	if isWorkload(o) {
		s.pending = append(s.pending, o)
	} else {
		s.a.addContext(o)
	}
}

// firstError reports the first problem of the input: the one at k, unless
// a workload document before it, left to the second pass, has one.
func (s *streamer) firstError(k docKey, err error) error {
	for fi := 0; fi <= k.file; fi++ {
		for _, di := range s.files[fi].later {
			if fi == k.file && di > k.doc {
				break
			}
			if r := s.decode(docKey{fi, di, 0}); r.err != nil {
				k, err = r.key, r.err
				break
			}
		}
		if fi == k.file {
			break
		}
	}
	f := s.files[k.file]
	return explainLoadError(err, f.src, f.data)
}

// secondPass decodes the workload documents on every CPU; each workload is
// audited as soon as it is decoded, then dropped.
func (s *streamer) secondPass() error {
	var jobs []docKey
	for fi, f := range s.files {
		for _, di := range f.later {
			jobs = append(jobs, docKey{fi, di, 0})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	workers := runtime.GOMAXPROCS(0)
	next := make(chan docKey)
	done := make(chan decodeResult, 2*workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				done <- s.decode(k)
			}
		}()
	}
	go func() {
		for _, k := range jobs {
			next <- k
		}
		close(next)
		wg.Wait()
		close(done)
	}()
	var firstErr *decodeResult
	for r := range done {
		if r.err != nil {
			if firstErr == nil || r.key.less(firstErr.key) {
				r := r
				firstErr = &r
			}
			continue
		}
		for i := range r.objs {
			o := &r.objs[i]
			if !o.Context {
				s.objects++
			}
			if isWorkload(o) {
				s.a.auditWorkload(o)
			} else {
				// A document whose kind line said workload, decoded as
				// something else: impossible for valid YAML, kept safe.
				s.a.addContext(o)
			}
		}
		for i, sk := range r.skipped {
			s.skipped = append(s.skipped, keyedSkipped{key: docKey{r.key.file, r.key.doc, i}, s: sk})
		}
	}
	if firstErr != nil {
		f := s.files[firstErr.key.file]
		return explainLoadError(firstErr.err, f.src, f.data)
	}
	return nil
}
