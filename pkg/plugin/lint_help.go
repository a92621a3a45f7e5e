package plugin

const lintLong = `Audit manifests, or live objects, for the settings zero downtime depends on:
readiness probes, preStop hooks, termination grace, rolling-update budgets,
replicas and PodDisruptionBudgets, Service selectors and session affinity,
mutable image tags, rollout history and deadlines, migration Jobs, long-lived
connections, leader election, sticky sessions, load-balancer draining and
readiness gates, mesh sidecars.

Manifests are read as kubectl reads them (-f FILE|DIR|URL|-, -R, -k DIR;
multi-document YAML, JSON, kind List) without contacting a cluster. A
whole repository works too (-R -f .): a document that is not a Kubernetes
object (a CI workflow, application settings) is skipped with a note; a
folder holding a Chart.yaml is rendered with Helm (its default values, and
--values/--set/--set-string as helm template takes them) and its findings
named on the template's lines; a folder holding a kustomization is built as
-k builds it, and the files it reads are not read again. Live objects are
named as kubectl get names them (TYPE/NAME, or TYPE with -l); the
PodDisruptionBudgets, Services, HorizontalPodAutoscalers and Ingresses of
their namespaces are read too, with their pods and the Leases they hold,
for the rules that look across objects.

An object can silence rules with the annotation zdd.dev/ignore: "rule-id,rule-id".

Every finding names its file, the line its object (or, with -k, the
kustomize patch that set the field) starts on, and the line of the field.
Paths are relative to --sarif-root, by default the top of the git checkout
holding the current directory (else the current directory), in every format,
so a CI step gets the same paths from any folder. With -k, kustomize is
asked to record where each object came from (originAnnotations), and the
patches of the kustomizations are searched for the field at fault.

--fix rewrites the mechanical problems (maxUnavailable 0 with a maxSurge of
at least 1, a preStop sleep, a long enough terminationGracePeriodSeconds,
revisionHistoryLimit, progressDeadlineSeconds): in files it keeps comments and
field order and prints the result, or writes it back with --in-place; on live
objects it applies a patch, which --dry-run=client prints and
--dry-run=server has the API server check without saving.

Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it;
2 bad input (a malformed file, an unknown flag value), nothing changed.`

const lintExample = `  # Lint a folder of manifests, recursively
  kubectl zdd lint -f deploy/ -R

  # Lint a whole repository: manifests, Helm charts, kustomizations
  kubectl zdd lint -R -f . --values charts/api/values-prod.yaml

  # Lint what kustomize renders, as SARIF for code scanning
  kubectl zdd lint -k overlays/prod -o sarif > zdd.sarif

  # In CI, with an absolute path: SARIF paths stay relative to the checkout
  kubectl zdd lint -R -f "$WORKSPACE/deploy" -o sarif --sarif-root "$WORKSPACE"

  # Fail on warnings too, and skip a rule
  kubectl zdd lint -f app.yaml --fail-on warning --disable mutable-image-tag

  # Lint live objects, with the PDBs, Services and HPAs around them
  kubectl zdd lint deployment/web service/web -n shop
  kubectl zdd lint deployments -l app=web -A -o json

  # Fix the mechanical problems in a file, keeping its comments
  kubectl zdd lint -f app.yaml --fix --in-place

  # Show the patch --fix would apply to a live Deployment
  kubectl zdd lint deployment/web --fix --dry-run=server`
