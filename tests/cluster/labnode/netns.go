package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread that has joined the network namespace at path (a
// /proc/PID/ns/net of the pod's holder process), as a container runtime's port-forward
// and a CNI plugin do. Sockets fn creates stay in that namespace for their whole life,
// whichever thread uses them later. The thread is put back before it is released; if it
// cannot be, it stays locked and Go discards it when the goroutine ends.
func inNetns(path string, fn func() error) error {
	result := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			result <- err
			return
		}
		defer own.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			result <- fmt.Errorf("network namespace %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			result <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		err = fn()
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		result <- err
	}()
	return <-result
}

// dialIn connects to address from inside the network namespace at path ("" = here).
func dialIn(path, address string, timeout time.Duration) (net.Conn, error) {
	if path == "" {
		return net.DialTimeout("tcp", address, timeout)
	}
	var conn net.Conn
	err := inNetns(path, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", address, timeout)
		return err
	})
	return conn, err
}

// runRelay listens on --listen inside the network namespace --netns and copies every
// connection to --dial in this process's own namespace: how the mesh's private network
// (istiod, the pods) reaches the API server that listens on the host's loopback, without
// touching the host's network.
func runRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace to listen in (/proc/PID/ns/net)")
	listen := fs.String("listen", "", "address to listen on, inside --netns")
	dial := fs.String("dial", "", "address to connect to, in this namespace")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *netns == "" || *listen == "" || *dial == "" {
		return errors.New("relay needs --netns, --listen and --dial")
	}
	var listener net.Listener
	if err := inNetns(*netns, func() error {
		var err error
		listener, err = net.Listen("tcp", *listen)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "relay %s (in %s) -> %s\n", listener.Addr(), *netns, *dial)
	for {
		client, err := listener.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer client.Close()
			upstream, err := net.DialTimeout("tcp", *dial, 5*time.Second)
			if err != nil {
				return
			}
			defer upstream.Close()
			pipe(client, upstream)
		}()
	}
}

// pipe copies both ways until either side is done, half-closing as TCP allows.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyHalf(a, b)
	go copyHalf(b, a)
	<-done
	<-done
}
