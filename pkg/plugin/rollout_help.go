package plugin

const rolloutLong = `Release a new version of a Deployment as a guarded rolling update.

Steps, each recorded in zdd.dev/ annotations on the Deployment while a
coordination.k8s.io Lease stops a second run on the same Deployment:

  1. preflight  the lint rules run on the Deployment as it will be applied;
                error-level findings stop the release (exit 2, nothing
                changed) unless --force. --fix applies lint's mechanical
                fixes (preStop sleep, grace period, maxUnavailable 0 /
                maxSurge 1, a readinessProbe copied from an existing
                livenessProbe) to what is applied, in the same rollout,
                printing and recording each change; --fix-strategy applies
                it with maxUnavailable 0 and maxSurge 25%.
  2. migrate    with --migration-job, the Job (which must not retry:
                backoffLimit 0, restartPolicy Never) runs under a name unique
                to this release; if it fails or times out the Deployment is
                not touched and the Job's conditions and pods are printed.
  3. apply      --image sets images with a strategic merge patch that only
                applies to the version read (resourceVersion precondition);
                -f applies the manifest with server-side apply (field manager
                kubectl-zdd). The change cause is recorded.
  4. watch      a watch of the Deployment and of its new pods shows updated,
                ready and available replicas of the new revision.
  5. detect     Progressing=False (ProgressDeadlineExceeded), new pods not
                ready within --timeout, restarts above --max-restarts, or a
                container waiting in CrashLoopBackOff, ImagePullBackOff,
                ErrImagePull or CreateContainerConfigError.
  6. analysis   with --analysis FILE, the metrics are measured after the
                rollout completes (or while it runs, --analysis-during).
                Failed: roll back. Inconclusive: nothing is rolled back, the
                operation is recorded as paused and the command exits 1; run
                'kubectl zdd rollout' again to re-check, or 'kubectl zdd
                rollback' to go back.
  7. rollback   unless --no-rollback, the previous revision's pod template is
                restored as 'kubectl rollout undo' does and waited for; the
                command exits 1 naming the reason and the restored revision,
                or 3 if the rollback itself fails.

Before anything changes, the release's request and settings (--image or
the -f manifest, the change cause, --migration-job, --timeout,
--max-restarts, --no-rollback, --analysis with its Job files and with header
${VAR}s never expanded, --analysis-during) are recorded in zdd.dev/param.*
annotations, so 'kubectl zdd resume' can finish a release whose client died
at any phase, and 'kubectl zdd abort' can undo it.

Another writer: every write (the record, the apply, the rollback) carries a
resourceVersion precondition or a JSON-patch test of the template. When
someone else changes spec.template, spec.selector or spec.strategy while the
release runs, it stops with exit 1 naming the field and the writer's field
manager, and rolls nothing back over that change. A change of anything else
(spec.replicas by 'kubectl scale' or an HPA, an annotation) is said in one
line and the release carries on, judged against the new replica count.

With --probe URL, requests are sent to URL from this machine (a new
connection each, --probe-rate a second) from before the first change to the
end of the release, including the stop of the replaced pods; more failures
than --max-failed-requests (default 0) fail the release like a failing
analysis: it rolls back. The probe's settings (never a header value) are
recorded, so 'kubectl zdd resume' probes again.

At the end it prints, for each Service that selects the Deployment, the
capacity (the smallest number of ready endpoints as a share of the desired
replicas, and the time with none ready), then the requests line: sent,
failed by kind, p50/p99 latency and answers per version with --probe, or
"requests: not measured" without it.

GitOps: a Deployment that Argo CD or Flux manages (label
argocd.argoproj.io/instance, annotation argocd.argoproj.io/tracking-id,
app.kubernetes.io/instance written by Argo CD, or the
kustomize.toolkit.fluxcd.io / helm.toolkit.fluxcd.io name and namespace
labels) gets its pod template reverted at the controller's next sync.
--gitops=warn (the default) names the controller before the release and
prints the change to commit as a unified patch after it; --gitops=refuse
stops with exit 2 before any write; --gitops=ignore says nothing.
--write-back FILE sets the new images in a local manifest (the Deployment's
containers) or kustomization (its images: entries), keeping comments.

--dry-run=client prints the plan (every step and every patch) and changes
nothing; --dry-run=server also has the API server check every write
(DryRun=All) without saving it.

Exit codes: 0 released; 1 failed (rolled back, or not with --no-rollback;
the probe's failures past the budget), another writer changed what the
release manages, or another run holds the lease; 2 bad input, or preflight
found errors, nothing changed; 3 the rollback failed, a person is needed.`

const rolloutExample = `  # Release a new image of the container "app"
  kubectl zdd rollout deployment/web --image app=registry.example/shop:v2 -n shop

  # Release a manifest, after a migration Job, giving up after 5 minutes
  kubectl zdd rollout -f web.yaml --migration-job migrate-v2.yaml --timeout 5m

  # See what would be done
  kubectl zdd rollout deployment/web --image app=shop:v2 --dry-run=client

  # Judge the new version by its metrics before calling it done
  kubectl zdd rollout deployment/web --image app=shop:v2 --analysis analysis.yaml

  # Count the requests users feel; one failure rolls the release back
  kubectl zdd rollout deployment/web --image app=shop:v2 --probe https://shop.example/healthz

  # Release a manifest that lint stops, with its mechanical fixes applied
  kubectl zdd rollout -f web.yaml --fix

  # Machine-readable result
  kubectl zdd rollout deployment/web --image app=shop:v2 -o json`
