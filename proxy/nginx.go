package proxy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// ReloadNginx reloads the nginx master whose PID is in pidFile: SIGHUP, then
// wait until the master has started a worker it did not have before, which
// is nginx's only sign that it accepted the new config (a config it rejects
// on reload is logged by the master and the old workers go on). It returns
// the master's PID. timeout bounds the wait; zero means 15 s.
//
// A signal, unlike `nginx -s reload`, needs neither the prefix nor the
// config path the master was started with: only the pid file.
func ReloadNginx(ctx context.Context, pidFile string, timeout time.Duration) (int, error) {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	master, err := NginxMaster(pidFile)
	if err != nil {
		return 0, err
	}
	before, err := Children(master)
	if err != nil {
		return master, fmt.Errorf("reload nginx: %w", err)
	}
	if err := syscall.Kill(master, syscall.SIGHUP); err != nil {
		return master, fmt.Errorf("reload nginx: signal master %d: %w", master, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		after, err := Children(master)
		if err != nil {
			return master, fmt.Errorf("reload nginx: %w", err)
		}
		for _, pid := range after {
			if !slices.Contains(before, pid) {
				return master, nil
			}
		}
		if time.Now().After(deadline) {
			return master, fmt.Errorf("reload nginx: master %d started no new worker within %s (config rejected? see its error log)", master, timeout)
		}
		select {
		case <-ctx.Done():
			return master, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// NginxMaster reads the master's PID from pidFile and checks that the
// process exists.
func NginxMaster(pidFile string) (int, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("nginx master: %w", err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("nginx master: %s: not a PID: %q", pidFile, bytes.TrimSpace(b))
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return 0, fmt.Errorf("nginx master: %s: process %d: %w", pidFile, pid, err)
	}
	return pid, nil
}

// Children returns the PIDs of the processes whose parent is pid, sorted,
// by reading /proc (Linux only).
func Children(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone since the glob
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(b[i+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(string(fields[1])); ppid != pid {
			continue
		}
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err == nil {
			out = append(out, child)
		}
	}
	if len(out) == 0 {
		if err := syscall.Kill(pid, 0); err != nil {
			return nil, fmt.Errorf("process %d: %w", pid, err)
		}
	}
	slices.Sort(out)
	return out, nil
}
