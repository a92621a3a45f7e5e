package traffic

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// SplitService describes one of the two Services a weighted router sends
// traffic to.
type SplitService struct {
	Name     string
	Selector map[string]string
	// DryRun is sent with the write (metav1.DryRunAll: checked by the API
	// server, not saved).
	DryRun []string
}

// EnsureSplitService creates the Service want (ports copied from base, the
// Service users reach today) when it is absent, and sets its selector when it
// exists and kubectl zdd manages it. A Service of that name that somebody
// else made is left as it is. It reports whether it created the Service.
func EnsureSplitService(ctx context.Context, client kubernetes.Interface, base *corev1.Service, want SplitService) (created bool, err error) {
	svcs := client.CoreV1().Services(base.Namespace)
	key := base.Namespace + "/" + want.Name
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := svcs.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{
					Name:        want.Name,
					Namespace:   base.Namespace,
					Labels:      map[string]string{kube.ManagedByLabel: kube.FieldManager},
					Annotations: map[string]string{"zdd.dev/split-of": base.Name},
				},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: maps.Clone(want.Selector)},
			}
			for _, p := range base.Spec.Ports {
				svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port, TargetPort: p.TargetPort, AppProtocol: p.AppProtocol})
			}
			if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{FieldManager: kube.FieldManager, DryRun: want.DryRun}); err != nil {
				return fmt.Errorf("creating service %q: %w", key, err)
			}
			created = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading service %q: %w", key, err)
		}
		if cur.Labels[kube.ManagedByLabel] != kube.FieldManager || maps.Equal(cur.Spec.Selector, want.Selector) {
			return nil
		}
		cur.Spec.Selector = maps.Clone(want.Selector)
		_, err = svcs.Update(ctx, cur, metav1.UpdateOptions{FieldManager: kube.FieldManager, DryRun: want.DryRun})
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("setting the selector of service %q: %w", key, err)
		}
		return err
	})
	return created, err
}
