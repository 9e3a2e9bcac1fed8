// Command labnode is the node side of the test cluster: a kubelet stand-in that serves
// exec, container logs and port-forward the way a kubelet does, for pods whose
// containers are the lab's real Envoys and apps on loopback addresses.
//
// One binary, several jobs, chosen by argv[0] or the first argument:
//
//	labnode kubelet ...   the kubelet stand-in (HTTPS on loopback)
//	labnode pki DIR       certificates and keys for a throwaway control plane
//	labnode relay ...     listen inside the mesh's network namespace, connect out here
//	pilot-agent ...       (argv[0]) Istio's `pilot-agent request` against the pod's Envoy
//	curl ...              (argv[0]) the host's curl, with the pod's localhost mapped to its IP
//
// The kube-apiserver is real; only what a container runtime would do is stood in for:
// a command "in the istio-proxy container" runs on the host with the pod's IP in its
// environment, so that localhost:15000 inside the pod means the pod's Envoy.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "labnode" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	var err error
	switch name {
	case "kubelet":
		err = runKubelet(args)
	case "pki":
		err = runPKI(args)
	case "pilot-agent":
		os.Exit(runPilotAgent(args))
	case "curl":
		err = runCurl(args)
	case "relay":
		err = runRelay(args)
	default:
		err = fmt.Errorf("unknown command %q (kubelet, pki, relay, pilot-agent, curl)", name)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
