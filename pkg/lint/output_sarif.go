package lint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/): only the
// parts code-scanning tools read.

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	// InformationURI is the project's home, printed in SARIF's driver.
	InformationURI = "https://github.com/zdd-dev/kubectl-zdd"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifact `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult            `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifRuleLevel `json:"defaultConfiguration"`
}

type sarifRuleLevel struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           *int              `json:"ruleIndex,omitempty"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI         string     `json:"uri,omitempty"`
	URIBaseID   string     `json:"uriBaseId,omitempty"`
	Description *sarifText `json:"description,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// sarifLevel maps a severity to SARIF's level.
func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// srcRoot is the uriBaseId of the files under the report's root.
const srcRoot = "%SRCROOT%"

// FingerprintKey names the partialFingerprints entry of each result.
const FingerprintKey = "zddFinding/v1"

// sarifArtifactOf is a file's artifact location: a path relative to
// %SRCROOT% (the report's root) for a file under it, a file:// URI for one
// elsewhere, the URL of a remote file, "stdin" for standard input.
func sarifArtifactOf(file string, root string) sarifArtifact {
	switch {
	case file == "-":
		return sarifArtifact{URI: "stdin"}
	case strings.HasPrefix(file, "http://") || strings.HasPrefix(file, "https://"):
		return sarifArtifact{URI: file}
	case filepath.IsAbs(file):
		return sarifArtifact{URI: fileURI(file)}
	}
	rel := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(file)), "./")
	if root == "" || !strings.HasPrefix(rel, "../") {
		return sarifArtifact{URI: (&url.URL{Path: rel}).EscapedPath(), URIBaseID: srcRoot}
	}
	return sarifArtifact{URI: fileURI(filepath.Join(root, file))}
}

// fileURI is the file:// URI of an absolute path (a folder's ends in /).
func fileURI(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x on Windows
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath()
}

// Fingerprint identifies a finding across commits, whatever its line: a
// hash of the rule, the object (kind, namespace, name), the container and
// the field.
func Fingerprint(f Finding) string {
	h := sha256.Sum256([]byte(strings.Join([]string{f.Rule, f.Kind, f.Namespace, f.Name, f.Container, f.Field}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// WriteSARIF prints the report as a SARIF 2.1.0 log whose rules are every
// rule of the linter (Rules()).
func (r *Report) WriteSARIF(w io.Writer) error {
	rules := Rules()
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	driver := sarifDriver{
		Name:           "kubectl-zdd",
		Version:        r.ToolVersion,
		InformationURI: InformationURI,
		Rules:          []sarifRule{},
	}
	index := map[string]int{}
	for i, ri := range rules {
		index[ri.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   ri.ID,
			Name:                 ri.ID,
			ShortDescription:     sarifText{Text: ri.Description},
			Help:                 sarifText{Text: ri.Hint},
			DefaultConfiguration: sarifRuleLevel{Level: sarifLevel(ri.Severity)},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	base := sarifArtifact{Description: &sarifText{Text: "the folder file paths are relative to (--sarif-root; by default the repository holding the current directory)"}}
	if r.Root != "" {
		base.URI = strings.TrimSuffix(fileURI(r.Root), "/") + "/"
	}
	run.OriginalURIBaseIDs = map[string]sarifArtifact{srcRoot: base}
	findings, _ := r.relative()
	seen := map[string]int{}
	for _, f := range findings {
		res := sarifResult{
			RuleID:  f.Rule,
			Level:   sarifLevel(f.Severity),
			Message: sarifText{Text: sarifMessage(f)},
		}
		if i, ok := index[f.Rule]; ok {
			i := i
			res.RuleIndex = &i
		}
		loc := sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: logicalName(f), Kind: "object"}}}
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifactOf(f.File, r.Root)}
			line := f.FieldLine
			if line == 0 {
				line = f.Line
			}
			if line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
			}
		}
		res.Locations = []sarifLocation{loc}
		// Two findings with the same identity (rule, object, container,
		// field) are told apart by their order, as code scanning's own
		// line hashes are.
		fp := Fingerprint(f)
		seen[fp]++
		res.PartialFingerprints = map[string]string{FingerprintKey: fp + ":" + strconv.Itoa(seen[fp])}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

func sarifMessage(f Finding) string {
	msg := f.Message
	if f.Hint != "" {
		msg += " Fix: " + f.Hint
	}
	return msg
}

func logicalName(f Finding) string {
	parts := []string{f.Kind}
	if f.Namespace != "" {
		parts = append(parts, f.Namespace)
	}
	parts = append(parts, f.Name)
	name := strings.Join(parts, "/")
	if f.Container != "" {
		name += "/" + f.Container
	}
	return name
}

// RepositoryRoot is the top of the git work tree that holds dir (the
// nearest folder, dir itself or a parent, with a .git entry), or dir when
// there is none. dir must be absolute.
func RepositoryRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}
