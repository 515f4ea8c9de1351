package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where a run happened, for the method of each result.
type Machine struct {
	NProc    int
	MemTotal string // as /proc/meminfo says it
	Kernel   string
	Go       string
	HAProxy  string
	Nginx    string
	FDLimit  uint64 // hard RLIMIT_NOFILE of this process, inherited by the proxies
}

// DescribeMachine reads the machine's figures; a missing program or file
// leaves its field "unknown".
func DescribeMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version(), MemTotal: "unknown", Kernel: "unknown", HAProxy: "unknown", Nginx: "unknown"}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		m.FDLimit = lim.Max
	}
	m.HAProxy = firstLine(findProgram("haproxy"), "-v")
	m.Nginx = firstLine(findProgram("nginx"), "-v")
	return m
}

// Markdown renders the machine as a bullet list.
func (m Machine) Markdown() string {
	return fmt.Sprintf("- %d CPUs, MemTotal %s, Linux %s, %s\n- %s\n- %s\n- open files: hard limit %d per process (proxies and load generators inherit it)\n",
		m.NProc, m.MemTotal, m.Kernel, m.Go, m.HAProxy, m.Nginx, m.FDLimit)
}

func findProgram(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// firstLine runs bin with args and returns the first line it printed on
// stdout or stderr (nginx -v writes to stderr).
func firstLine(bin string, args ...string) string {
	if bin == "" {
		return "unknown"
	}
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
	if len(line) == 0 {
		return "unknown"
	}
	return string(line)
}

// TreeRSS returns the summed VmRSS, in bytes, of pid and all its
// descendants, and how many processes that is. Processes that exit while
// /proc is read are skipped.
func TreeRSS(pid int) (int64, int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: rss: %w", err)
	}
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			parent[p] = pp
		}
	}
	inTree := func(p int) bool {
		for range 64 {
			if p == pid {
				return true
			}
			pp, ok := parent[p]
			if !ok || pp <= 1 {
				return false
			}
			p = pp
		}
		return false
	}
	var total int64
	n := 0
	for p := range parent {
		if !inTree(p) {
			continue
		}
		if kb, ok := vmRSS(p); ok {
			total += kb * 1024
			n++
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("bench: rss: no process %d", pid)
	}
	return total, n, nil
}

// ppid reads the parent of p from /proc/p/stat.
func ppid(p int) (int, bool) {
	f, ok := statFields(p)
	if !ok || len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// CPUTime returns the user and system CPU time pid has used so far, from
// /proc/pid/stat (utime and stime, in USER_HZ ticks: 100 a second on Linux).
func CPUTime(pid int) (time.Duration, error) {
	f, ok := statFields(pid)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("bench: cpu time: no process %d", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: cpu time of %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}

// statFields returns the fields of /proc/p/stat after the command (the
// second field, which may hold spaces and parentheses): state is [0].
func statFields(p int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

// RSS returns pid's VmRSS in bytes.
func RSS(pid int) (int64, bool) {
	kb, ok := vmRSS(pid)
	return kb * 1024, ok
}

func vmRSS(p int) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
