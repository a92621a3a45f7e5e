package plugin

const canaryLong = `Release a new version of a Deployment to a share of its traffic, then widen
the share step by step, or pull it back.

kubectl zdd canary creates NAME-canary, a copy of the Deployment with the new
images (--image) or the pod template of a file (-f), whose pods carry a track
label (track=canary, --track-label) and are selected by the same Service.

Without --traffic-router the traffic is split by replica ratio: with N stable
replicas, weight w gives the canary ceil(N*w/100) replicas (at least 1) and the
stable N minus that. With a router the weight is exact and the canary still
gets the replicas for its share: gateway-api --route sets the weights of an
HTTPRoute's backendRefs, istio --virtual-service those of a VirtualService,
smi --traffic-split those of a TrafficSplit, nginx --ingress adds an Ingress
NAME-canary with the nginx canary annotations, linkerd --route sets the
weights of the HTTPRoute attached to the Service that Linkerd's proxies read:
a Gateway API HTTPRoute whose parentRef is the Service (GAMMA) or a
policy.linkerd.io HTTPRoute (--route GROUP/NAME picks one when both APIs hold
that name). The Services SERVICE-stable and
SERVICE-canary are created when absent. The stable Deployment is not
relabelled (its selector is immutable and a template change would restart it):
SERVICE-stable selects the pod-template-hash of its current ReplicaSet.

Capacity never drops below N ready pods: the side that grows is Ready before
the other side shrinks. At each step the effective weight is printed: ready
canary pods over all ready pods behind the Service.

--steps walks several weights with --pause between them (one, or one per
step), running --analysis during each pause; a failing analysis aborts (exit
1). When the last step is 100 the release is finished: the stable Deployment
is rolled to the canary's pod template (maxUnavailable 0) and the canary
removed. --weight, or --manual, holds after the step and exits 0;
'kubectl zdd canary promote' moves on, 'promote --full' finishes, and
'kubectl zdd canary abort' brings the stable back to N, Ready, then the canary
to 0.

A stable Deployment that Argo CD or Flux manages is named before the release
(--gitops=warn, the default; refuse stops with exit 2 before any write): its
next sync reverts the replicas the steps set and the finished release's pod
template. When the stable takes the new template (the last step 100, or
'promote --full') the change to commit is printed as a patch, and
--write-back FILE sets the new images in a manifest or kustomization.

Ctrl-C (SIGINT, or SIGTERM) does not abort: the step in progress is finished
to a consistent state (the side that grows Ready before the other shrinks, a
router's weight only on a side with ready pods), a pause or an analysis is
cut short, the phase is recorded with the result "interrupted", the lease is
released and the command exits 3: run 'kubectl zdd resume deployment/NAME'
to carry on from that step, or 'kubectl zdd abort deployment/NAME' to go back
to the stable at full size. --deadline is different: a release that runs out
of time is aborted (stable back to N, Ready, canary to 0) and exits 1, as a
failing analysis is, since nobody may be watching it. --timeout, as in
rollout and blue-green, bounds each wait (a Deployment becoming Ready, the
Service's endpoints reaching a step's split); a step whose wait runs out is
pulled back too.

Every write carries the resourceVersion kubectl zdd last saw. When another
writer changed what the canary manages (the replicas it set on either
Deployment, the canary's pod template, the selectors of the Service and of
SERVICE-stable/SERVICE-canary, a router's weights: gateway-api, istio, smi,
linkerd, or the nginx canary-weight), the release stops with exit 1 without overwriting
it, naming the object, the field and the writer; the phase stays recorded
(result failed) for 'kubectl zdd resume' or 'kubectl zdd abort'. A change to
anything else (an annotation, a label, the status) is read again and the write
retried.`

const canaryExample = `  # Send about 10% of the traffic to the new image by replica ratio
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --weight 10

  # Walk 10, 30, 50, 100 with an hour between steps, judged by an analysis
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --steps 10,30,50,100 --pause 1h --analysis analysis.yaml

  # Exact weights through a Gateway API HTTPRoute, promoted by hand
  kubectl zdd canary deployment/web -f web-v2.yaml --steps 5,25,50,100 --manual --traffic-router gateway-api --route web
  kubectl zdd canary promote deployment/web
  kubectl zdd canary promote deployment/web --full
  kubectl zdd canary abort deployment/web

  # The plan of every step (replicas of both sides, weights, the Services it
  # creates); server also has the API server check each write (dryRun=All)
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --steps 10,50,100 --dry-run=server

  # Exact weights on a Linkerd mesh: the HTTPRoute attached to Service web
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --steps 10,50,100 --traffic-router linkerd --route web
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --weight 20 --traffic-router linkerd --route policy.linkerd.io/web`
