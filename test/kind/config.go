package main

import (
	"sort"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// RealNodeLabel is the label the traffic tests' pods select (the local
// cluster's real node carries it too, with a taint kind does not need).
const RealNodeLabel = "zdd.dev/real-node"

// Config is the kind cluster the traffic suite runs on: one node, which
// runs the control plane and the test pods, labelled RealNodeLabel.
func Config(name string) *v1alpha4.Cluster {
	c := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     name,
		Nodes: []v1alpha4.Node{{
			Role:   v1alpha4.ControlPlaneRole,
			Labels: map[string]string{RealNodeLabel: "true"},
		}},
	}
	v1alpha4.SetDefaultsCluster(c)
	return c
}

// RealNodeFacts is what the ConfigMap kube-system/zdd-real-node holds for
// a kind cluster: the node, and the address where its NodePorts answer.
func RealNodeFacts(node, ip string) map[string]string {
	return map[string]string{
		"node":         node,
		"nodePortHost": ip,
		"taint":        RealNodeLabel,
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
