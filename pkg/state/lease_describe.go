package state

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"
)

func leaseDuration(l *coordinationv1.Lease) time.Duration {
	return time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, int32(DefaultLeaseDuration/time.Second))) * time.Second
}

func renewTime(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime != nil {
		return l.Spec.RenewTime.Time
	}
	if l.Spec.AcquireTime != nil {
		return l.Spec.AcquireTime.Time
	}
	return time.Time{}
}

// expiry returns when the lease expires; held is false for a lease with no
// holder or no renew time.
func expiry(l *coordinationv1.Lease) (time.Time, bool) {
	rt := renewTime(l)
	if rt.IsZero() || ptr.Deref(l.Spec.HolderIdentity, "") == "" {
		return time.Time{}, false
	}
	return rt.Add(leaseDuration(l)), true
}

// LeaseInfo describes a lease for status output.
type LeaseInfo struct {
	Holder    string    `json:"holder"`
	RenewTime time.Time `json:"renewTime"`
	Expires   time.Time `json:"expires"`
	Renewing  bool      `json:"renewing"`
}

// Describe reads the lease; ok is false when there is none or nobody holds it.
func Describe(ctx context.Context, c coordclient.LeasesGetter, namespace, name string, now time.Time) (LeaseInfo, bool, error) {
	cur, err := c.Leases(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return LeaseInfo{}, false, nil
	}
	if err != nil {
		return LeaseInfo{}, false, err
	}
	exp, held := expiry(cur)
	if !held {
		return LeaseInfo{}, false, nil
	}
	return LeaseInfo{Holder: ptr.Deref(cur.Spec.HolderIdentity, ""), RenewTime: renewTime(cur), Expires: exp, Renewing: exp.After(now)}, true, nil
}
