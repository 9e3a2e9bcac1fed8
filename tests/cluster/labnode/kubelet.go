package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Pod annotations through which the lab tells the node what a container "is".
const (
	// The file the istio-proxy container logs to (the lab Envoy's log).
	annotationLogFile = "lab.meshdebug.io/log-file"
	// Comma-separated programs the istio-proxy image holds (default pilot-agent,curl).
	annotationPrograms = "lab.meshdebug.io/programs"
	// The pod's network namespace (/proc/PID/ns/net of its holder process): set for the
	// real mesh's pods, whose containers run inside it; absent for loopback lab pods.
	annotationNetns = "lab.meshdebug.io/netns"
	// Per container: the file that container logs to (annotationLogFile + "." + name).
	// A file beside it named NAME.previous is the previous instance's log (--previous).
	proxyContainer  = "istio-proxy"
	defaultPrograms = "pilot-agent,curl"
)

type node struct {
	client     kubernetes.Interface
	shims      string // folder with pilot-agent and curl links to this binary
	pilotAgent string // the real pilot-agent, for pods of the real mesh
	execLog    string // every exec's argv, one JSON line each, for the tests to read
	mu         sync.Mutex
}

func runKubelet(args []string) error {
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:10250", "address to serve on")
	cert := fs.String("tls-cert", "", "serving certificate")
	key := fs.String("tls-key", "", "serving key")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to read pods with")
	shims := fs.String("shims", "", "folder holding the pilot-agent and curl links")
	execLog := fs.String("exec-log", "", "append every exec's argv here (JSON lines)")
	pilotAgent := fs.String("pilot-agent", "", "the real pilot-agent binary (real-mesh pods)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 10 * time.Second
	// A kubelet reads pods from its own cache; this one asks the API server on every
	// exec, log and port-forward, so client-go's default limit (5/s, burst 10) would make
	// every live command look several times slower than it is.
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	n := &node{client: client, shims: *shims, pilotAgent: *pilotAgent, execLog: *execLog}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/exec/", n.serveExec)
	mux.HandleFunc("/portForward/", n.servePortForward)
	mux.HandleFunc("/containerLogs/", n.serveLogs)
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "labnode kubelet serving on %s\n", listener.Addr())
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return server.ServeTLS(listener, *cert, *key)
}

// parts splits /PREFIX/a/b/c into [a b c].
func parts(path, prefix string) []string {
	return strings.Split(strings.Trim(strings.TrimPrefix(path, prefix), "/"), "/")
}

func (n *node) pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return n.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// ---- exec ----------------------------------------------------------------------------

// serveExec answers /exec/{ns}/{pod}/{container} and /exec/{ns}/{pod}/{uid}/{container}.
func (n *node) serveExec(w http.ResponseWriter, r *http.Request) {
	p := parts(r.URL.Path, "/exec/")
	if len(p) != 3 && len(p) != 4 {
		http.Error(w, "bad exec path", http.StatusBadRequest)
		return
	}
	container := p[len(p)-1]
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	remotecommand.ServeExec(w, r, n, p[0]+"/"+p[1], "", container, cmd, opts,
		5*time.Minute, 30*time.Second, remotecommand.SupportedStreamingProtocols)
}

// ExecInContainer runs argv[0] from the shim folder when the container "has" it, with
// the pod's identity in the environment; a missing program fails as containerd does.
func (n *node) ExecInContainer(ctx context.Context, name, _ string, container string, cmd []string,
	in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize,
	_ time.Duration) error {
	namespace, podName, _ := strings.Cut(name, "/")
	n.record(map[string]any{"namespace": namespace, "pod": podName, "container": container,
		"command": cmd})
	pod, err := n.pod(ctx, namespace, podName)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	programs := map[string]bool{}
	if container == proxyContainer {
		list, ok := pod.Annotations[annotationPrograms]
		if !ok {
			list = defaultPrograms
		}
		for _, prog := range strings.Split(list, ",") {
			if prog = strings.TrimSpace(prog); prog != "" {
				programs[prog] = true
			}
		}
	}
	base := filepath.Base(cmd[0])
	if netns := pod.Annotations[annotationNetns]; netns != "" {
		return n.execInPod(ctx, pod, netns, container, cmd, in, out, errOut)
	}
	if !programs[base] {
		return fmt.Errorf("failed to exec in container: failed to start exec: OCI runtime exec "+
			"failed: exec failed: unable to start container process: exec: %q: executable file "+
			"not found in $PATH: unknown", cmd[0])
	}
	c := exec.CommandContext(ctx, filepath.Join(n.shims, base), cmd[1:]...)
	c.Env = []string{
		"PATH=" + n.shims + ":/usr/bin:/bin",
		"INSTANCE_IP=" + pod.Status.PodIP,
		"POD_NAME=" + pod.Name,
		"POD_NAMESPACE=" + pod.Namespace,
		"HOME=/tmp",
	}
	return runStreams(c, in, out, errOut)
}

// execInPod runs the command inside the pod's network namespace, for istio-proxy with the
// proxy's group 1337 (which Istio's iptables rules exempt from capture), with the real
// programs: pilot-agent is Istio's, curl the host's.
func (n *node) execInPod(ctx context.Context, pod *corev1.Pod, netns, container string, cmd []string,
	in io.Reader, out, errOut io.WriteCloser) error {
	programs := map[string]string{"curl": "/usr/bin/curl", "sh": "/bin/sh", "cat": "/bin/cat"}
	if container == proxyContainer {
		list, ok := pod.Annotations[annotationPrograms]
		if !ok {
			list = defaultPrograms
		}
		allowed := map[string]bool{}
		for _, prog := range strings.Split(list, ",") {
			allowed[strings.TrimSpace(prog)] = true
		}
		if n.pilotAgent != "" {
			programs["pilot-agent"] = n.pilotAgent
		}
		for name := range programs {
			if !allowed[name] {
				delete(programs, name)
			}
		}
	}
	path, ok := programs[filepath.Base(cmd[0])]
	if !ok {
		return fmt.Errorf("failed to exec in container: failed to start exec: OCI runtime exec "+
			"failed: exec failed: unable to start container process: exec: %q: executable file "+
			"not found in $PATH: unknown", cmd[0])
	}
	argv := []string{"--net=" + netns}
	if container == proxyContainer {
		// group 1337, as the sidecar itself runs (istiomesh.py): Istio's rules exempt it
		argv = append(argv, "--setgid=1337")
	}
	argv = append(append(argv, "--", path), cmd[1:]...)
	c := exec.CommandContext(ctx, "nsenter", argv...)
	c.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"INSTANCE_IP=" + pod.Status.PodIP,
		"POD_NAME=" + pod.Name,
		"POD_NAMESPACE=" + pod.Namespace,
		"HOME=/tmp",
	}
	return runStreams(c, in, out, errOut)
}

// runStreams runs c on the exec's streams; a non-zero exit reaches the client as the
// runtime reports it (a CodeExitError carrying the code).
func runStreams(c *exec.Cmd, in io.Reader, out, errOut io.WriteCloser) error {
	if in != nil {
		c.Stdin = in
	}
	c.Stdout = out
	c.Stderr = errOut
	err := c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

func (n *node) record(entry map[string]any) {
	if n.execLog == "" {
		return
	}
	line, err := json.Marshal(entry)
	if err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	f, err := os.OpenFile(n.execLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

// ---- port-forward ----------------------------------------------------------------------

// servePortForward answers /portForward/{ns}/{pod} (and .../{uid}).
func (n *node) servePortForward(w http.ResponseWriter, r *http.Request) {
	p := parts(r.URL.Path, "/portForward/")
	if len(p) != 2 && len(p) != 3 {
		http.Error(w, "bad port-forward path", http.StatusBadRequest)
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, n, p[0]+"/"+p[1], "", opts, 5*time.Minute,
		30*time.Second, portforward.SupportedProtocols)
}

// PortForward connects the stream to the pod's IP, as the kubelet does inside the pod's
// network namespace.
func (n *node) PortForward(ctx context.Context, name, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	namespace, podName, _ := strings.Cut(name, "/")
	pod, err := n.pod(ctx, namespace, podName)
	if err != nil {
		return err
	}
	// A pod of the real mesh: localhost inside its network namespace, as the kubelet's
	// runtime dials it. A loopback lab pod: its address on the host.
	netns := pod.Annotations[annotationNetns]
	host := pod.Status.PodIP
	if netns != "" {
		host = "127.0.0.1"
	}
	address := net.JoinHostPort(host, strconv.Itoa(int(port)))
	conn, err := dialIn(netns, address, 5*time.Second)
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace %q: %v", port, name, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(conn, stream)
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(stream, conn)
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// ---- logs ------------------------------------------------------------------------------

// serveLogs answers /containerLogs/{ns}/{pod}/{container} with the lab file behind the
// istio-proxy container, honouring the kubelet's tailLines, limitBytes, timestamps and
// follow (lines appended later are streamed until the client goes away).
func (n *node) serveLogs(w http.ResponseWriter, r *http.Request) {
	p := parts(r.URL.Path, "/containerLogs/")
	if len(p) != 3 {
		http.Error(w, "bad log path", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	pod, err := n.pod(r.Context(), p[0], p[1])
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	path := pod.Annotations[annotationLogFile+"."+p[2]]
	if path == "" && p[2] == proxyContainer {
		path = pod.Annotations[annotationLogFile]
	}
	if q.Get("previous") == "true" {
		previous := path + ".previous"
		if _, err := os.Stat(previous); path == "" || err != nil {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", p[2], p[1]),
				http.StatusBadRequest)
			return
		}
		path = previous
		q.Set("follow", "false")
	}
	var data []byte
	if path != "" {
		data, _ = os.ReadFile(path)
	}
	offset := int64(len(data))
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if tail, err := strconv.Atoi(q.Get("tailLines")); err == nil && tail >= 0 && tail < len(lines) {
		lines = lines[len(lines)-tail:]
	}
	limit := int64(-1)
	if v, err := strconv.ParseInt(q.Get("limitBytes"), 10, 64); err == nil && v > 0 {
		limit = v
	}
	stamps := q.Get("timestamps") == "true"
	w.Header().Set("Content-Type", "text/plain")
	written := int64(0)
	emit := func(line string) bool {
		if stamps {
			line = time.Now().UTC().Format(time.RFC3339Nano) + " " + line
		}
		if limit >= 0 && written+int64(len(line)) > limit {
			line = line[:limit-written]
		}
		k, err := io.WriteString(w, line)
		written += int64(k)
		return err == nil && (limit < 0 || written < limit)
	}
	for _, line := range lines {
		if !emit(line) {
			return
		}
	}
	if q.Get("follow") != "true" || path == "" {
		return
	}
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		f, err := os.Open(path)
		if err != nil {
			return // the container's log is gone (rotated, or the container restarted)
		}
		if _, err := f.Seek(offset, io.SeekStart); err == nil {
			reader := bufio.NewReader(f)
			for {
				line, err := reader.ReadString('\n')
				if err != nil { // a partial line waits for its end
					break
				}
				offset += int64(len(line))
				if !emit(line) {
					f.Close()
					return
				}
			}
		}
		f.Close()
		if flusher != nil {
			flusher.Flush()
		}
	}
}
