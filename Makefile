# kubectl-zdd
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG := github.com/zdd-dev/kubectl-zdd
# kustomize_disable_go_plugin_support: kustomize's loader of Go plugins
# (never used: -k builds with builtin transformers only, as kubectl does)
# imports the standard "plugin" package, which makes the linker export every
# symbol of the binary: 20 MB more and a slower start. Keep GOTAGS in every
# build of the release binary (hack/release.sh reads it from here, and
# cmd/kubectl-zdd's TestReleaseBinarySize builds with it).
GOTAGS := kustomize_disable_go_plugin_support
LDFLAGS := -s -w -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Commit=$(COMMIT) -X $(PKG)/pkg/version.BuildDate=$(BUILD_DATE)
export KUBECONFIG_LOCAL := $(CURDIR)/.cluster/kubeconfig

.PHONY: all build test test-unit e2e fuzz bench fmt vet lint-examples docs tools cluster-up cluster-down demo release clean

all: build

build: ## build bin/kubectl-zdd
	go build -trimpath -tags "$(GOTAGS)" -ldflags "$(LDFLAGS)" -o bin/kubectl-zdd ./cmd/kubectl-zdd
	install -m 0755 plugins/kubectl_complete-zdd bin/kubectl_complete-zdd

test: ## everything CI runs: install what is missing, unit tests, fuzz, test cluster, e2e
	hack/test.sh

test-unit: ## unit tests only
	go test ./...

e2e: build tools ## the e2e suite alone (uses $$KUBECONFIG when set, else the local cluster)
	go test -tags e2e -count=1 -timeout 40m -parallel 8 ./test/e2e/...

fuzz: ## a short run of every fuzz target
	hack/fuzz.sh

bench: build ## benchmarks under bench/
	bench/run.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...
	go vet -tags e2e ./test/...

lint-examples: build ## lint the example manifests: the good set is clean, the bad set fails with findings
	bin/kubectl-zdd lint -f examples/good -R
	bin/kubectl-zdd lint -f examples/bad -R; test $$? -eq 1

docs: ## the HTML report of a recorded release opened in headless Chromium (checked), its screenshot and page into docs/
	ZDD_REQUIRE_BROWSER=1 ZDD_REPORT_SCREENSHOT=$(CURDIR)/docs/report.png ZDD_REPORT_HTML=$(CURDIR)/docs/report-example.html \
		go test -count=1 -run TestBrowserDrawsReport ./pkg/report/

tools: ## build the test cluster's programs into bin/ (once)
	hack/build-tools.sh

cluster-up: tools ## start the local test cluster (kwok, real control plane)
	hack/cluster.sh up

cluster-down:
	hack/cluster.sh down

demo: build ## bring up the local cluster and walk a release through it
	hack/demo.sh

release: ## cross-build archives and render plugins/krew.yaml
	hack/release.sh $(VERSION)

test-krew: ## the release archives and krew manifest, checked by krew v0.4.3 (installs offline)
	cd test/krew && go test -count=1 -timeout 40m ./...

clean:
	rm -rf bin/kubectl-zdd dist/
