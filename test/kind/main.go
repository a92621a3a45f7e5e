// Command kind makes the e2e suite's traffic tests runnable on a laptop
// with Docker: it creates a kind cluster (sigs.k8s.io/kind's Go API) whose
// one node is labelled as the "real node" the traffic tests look for, loads
// the test images into it, and publishes the facts the tests read, like
// hack/node.sh does for the local cluster.
//
//	go run . create -name zdd-e2e -images ../../bin/images.tar -kubeconfig ../../.cluster/kubeconfig-kind
//	go run . delete -name zdd-e2e
//
// The e2e harness runs it when ZDD_E2E_CLUSTER=kind. No machine this
// project is built on runs Docker, so only Config is tested here (its
// golden file); the rest is kept thin.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kind create|delete [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	name := fs.String("name", "zdd-e2e", "the kind cluster's name")
	images := fs.String("images", "", "the image archive to load (bin/images.tar)")
	kubeconfig := fs.String("kubeconfig", "", "where to write the cluster's kubeconfig")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "create":
		err = create(*name, *images, *kubeconfig)
	case "delete":
		err = cluster.NewProvider(cluster.ProviderWithDocker()).Delete(*name, *kubeconfig)
	default:
		err = fmt.Errorf("unknown command %q: want create or delete", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kind: %v\n", err)
		os.Exit(1)
	}
}

func create(name, images, kubeconfig string) error {
	if images == "" || kubeconfig == "" {
		return fmt.Errorf("create needs -images and -kubeconfig")
	}
	p := cluster.NewProvider(cluster.ProviderWithDocker())
	if err := p.Create(name, cluster.CreateWithV1Alpha4Config(Config(name)),
		cluster.CreateWithKubeconfigPath(kubeconfig), cluster.CreateWithWaitForReady(3*time.Minute)); err != nil {
		return fmt.Errorf("creating kind cluster %q: %w", name, err)
	}
	nodes, err := p.ListInternalNodes(name)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		f, err := os.Open(images)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("loading %s into node %s: %w", images, n.String(), err)
		}
	}
	// the traffic tests reach Services through a NodePort on the node's
	// address on the Docker network (ClusterIPs are not routed to this
	// machine)
	ip, _, err := nodes[0].IP()
	if err != nil {
		return err
	}
	facts := RealNodeFacts(nodes[0].String(), ip)
	args := []string{"--kubeconfig", kubeconfig, "-n", "kube-system", "create", "configmap", "zdd-real-node"}
	for _, k := range sortedKeys(facts) {
		args = append(args, "--from-literal="+k+"="+facts[k])
	}
	out, err := exec.Command("kubectl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
	}
	return nil
}
