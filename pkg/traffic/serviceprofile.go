package traffic

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// ServiceProfileGVR is Linkerd's ServiceProfile resource.
var ServiceProfileGVR = schema.GroupVersionResource{Group: "linkerd.io", Version: "v1alpha2", Resource: "serviceprofiles"}

// LinkerdServiceProfile names the ServiceProfile of Service ns/service
// (named SERVICE.NS.svc.CLUSTER-DOMAIN), "" when there is none or the
// cluster does not serve ServiceProfiles. In some Linkerd versions a
// ServiceProfile takes precedence over an HTTPRoute's weights.
func LinkerdServiceProfile(ctx context.Context, dyn dynamic.Interface, ns, service string) (string, error) {
	if dyn == nil {
		return "", nil
	}
	list, err := dyn.Resource(ServiceProfileGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("listing Linkerd service profiles in namespace %q: %w", ns, err)
	}
	prefix := service + "." + ns + ".svc."
	for _, sp := range list.Items {
		if strings.HasPrefix(sp.GetName(), prefix) {
			return sp.GetName(), nil
		}
	}
	return "", nil
}

// ServiceProfileWarning is the warning printed when LinkerdServiceProfile
// found one.
func ServiceProfileWarning(ns, service, profile string) string {
	return fmt.Sprintf("warning: Linkerd ServiceProfile %q exists for service %q: in some Linkerd versions it takes precedence over the HTTPRoute's weights, so the canary's share may not follow them; check its dstOverrides and routes, or remove it for the release",
		ns+"/"+profile, ns+"/"+service)
}
