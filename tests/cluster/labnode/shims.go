package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// The ports `pilot-agent request --debug-port` accepts, as in Istio.
var pilotAgentPorts = map[int]bool{15000: true, 15004: true, 15020: true, 15021: true}

// runPilotAgent behaves as Istio's `pilot-agent request METHOD PATH [BODY]`: the body on
// stdout with a newline added, 404 taken as success, any other status above 399 an
// error naming the status (exit 1), and nothing else on stdout. "localhost" is the pod's
// INSTANCE_IP.
func runPilotAgent(args []string) int {
	if len(args) == 0 || args[0] != "request" {
		fmt.Fprintln(os.Stderr, "Error: unknown command; this pilot-agent only knows `request`")
		return 1
	}
	fs := flag.NewFlagSet("request", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.Int("debug-port", 15000, "")
	var positional []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return 1
		}
		rest = fs.Args()
		if len(rest) > 0 {
			positional = append(positional, rest[0])
			rest = rest[1:]
		}
	}
	if len(positional) < 2 {
		fmt.Fprintf(os.Stderr, "Error: requires at least 2 arg(s), only received %d\n", len(positional))
		return 1
	}
	if !pilotAgentPorts[*port] {
		fmt.Fprintf(os.Stderr, "Error: debug port %d is not in allowed list [15000 15004 15020 15021]\n", *port)
		return 1
	}
	body := ""
	if len(positional) > 2 {
		body = positional[2]
	}
	url := fmt.Sprintf("http://%s:%d/%s", os.Getenv("INSTANCE_IP"), *port,
		strings.TrimPrefix(positional[1], "/"))
	req, err := http.NewRequest(positional[0], url, strings.NewReader(body))
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", strings.ReplaceAll(err.Error(), os.Getenv("INSTANCE_IP"), "localhost"))
		return 1
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	if resp.StatusCode > 399 && resp.StatusCode != 404 {
		fmt.Fprintf(os.Stderr, "Error: received unsuccessful status code %d: %s\n", resp.StatusCode, data)
		return 1
	}
	_, _ = os.Stdout.Write(append(data, '\n'))
	return 0
}

// runCurl replaces itself with the host's curl, the pod's localhost mapped to INSTANCE_IP.
func runCurl(args []string) error {
	ip := os.Getenv("INSTANCE_IP")
	argv := []string{"curl"}
	for _, arg := range args {
		for _, local := range []string{"://127.0.0.1:", "://localhost:", "://127.0.0.1/", "://localhost/"} {
			if strings.Contains(arg, local) {
				arg = strings.Replace(arg, local, "://"+ip+local[strings.LastIndexAny(local, ":/"):], 1)
			}
		}
		argv = append(argv, arg)
	}
	path, err := exec.LookPath("curl")
	if err != nil || strings.HasPrefix(path, os.Getenv("LABNODE_SHIMS")) {
		path = "/usr/bin/curl"
	}
	if _, err := os.Stat(path); err != nil {
		return errors.New("the host has no curl (/usr/bin/curl)")
	}
	return syscall.Exec(path, argv, os.Environ())
}
