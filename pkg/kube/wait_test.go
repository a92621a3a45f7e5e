package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestConditions(t *testing.T) {
	tests := []struct {
		name               string
		d                  *appsv1.Deployment
		rolledOut, settled bool
		settledReason      string
	}{
		{name: "rolling", d: deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}),
			settledReason: "waiting for updated replicas: 1 of 3"},
		{name: "rolled out and settled", d: deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}),
			rolledOut: true, settled: true, settledReason: "rolled out: 3 of 3 updated replicas available"},
		{name: "scaled down, a pod still counted", d: deployment(3, 3, ptr.To[int32](2), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3}),
			settledReason: "waiting for old replicas to terminate: 1 left"},
		{name: "available but one not ready", d: deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 3}),
			rolledOut: true, settledReason: "waiting for 3 replicas (3 counted, 2 ready)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DeploymentProgress(tc.d)
			if got, _ := RolledOut(tc.d, p); got != tc.rolledOut {
				t.Errorf("RolledOut = %t, want %t", got, tc.rolledOut)
			}
			got, reason := Settled(tc.d, p)
			if got != tc.settled || reason != tc.settledReason {
				t.Errorf("Settled = %t %q, want %t %q", got, reason, tc.settled, tc.settledReason)
			}
		})
	}
}

// TestWaitForDeploymentCondition: the one wait ends on its condition, and
// a wait past its deadline names what it last waited for.
func TestWaitForDeploymentCondition(t *testing.T) {
	d := deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 3})
	cs := fake.NewClientset(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := WaitForDeployment(ctx, cs, "shop", "web", nil, nil); err != nil {
		t.Fatalf("rolled out: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err := WaitForDeployment(short, cs, "shop", "web", Settled, nil)
	if err == nil || !strings.Contains(err.Error(), "timed out (waiting for 3 replicas (3 counted, 2 ready))") {
		t.Fatalf("settled past the deadline: %v", err)
	}
}
