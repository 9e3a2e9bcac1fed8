"""A real Kubernetes control plane for the tests: kube-apiserver, etcd and kubectl built
from the Go module proxy, and labnode, a kubelet stand-in that maps exec, logs and
port-forward to the lab's real Envoys. `python -m tests.cluster --help` drives it by hand."""
