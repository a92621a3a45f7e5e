package kube

// FieldManager is the name kubectl zdd writes under: the field manager of
// every create, update and patch it sends (so managedFields name it), and
// the value of ManagedByLabel on the objects it creates. The one place it
// is spelled.
const FieldManager = "kubectl-zdd"

// ManagedByLabel marks the objects kubectl zdd created (a Lease, a preview
// or split Service, an NGINX canary Ingress) with FieldManager.
const ManagedByLabel = "app.kubernetes.io/managed-by"
