package top

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/wsctl/wsctl/haproxy"
)

// History is how many samples a server's sparkline covers: three minutes
// at the default refresh of a second.
const History = 180

// sparkWidth is the sparkline's width in cells: each cell is the highest
// of History/sparkWidth samples.
const sparkWidth = 30

// SortBy orders a backend's servers.
type SortBy int

// The orders `s` cycles through.
const (
	ByName SortBy = iota
	BySessions
	ByState
)

func (s SortBy) String() string { return [...]string{"name", "sessions", "state"}[s] }

// SnapshotMsg carries a new snapshot into the model.
type SnapshotMsg Snapshot

// tickMsg asks for the next sample.
type tickMsg struct{}

// Model is the Bubble Tea model of `wsctl top`. Its zero value is not
// usable: use New.
type Model struct {
	sample  func(context.Context) Snapshot
	every   time.Duration
	timeout time.Duration

	snap    Snapshot
	hist    map[string][]int64
	rate    map[string]float64
	prev    map[string]int64
	prevAt  time.Time
	backend string
	sortBy  SortBy
}

// New returns the model that samples with sample every refresh, each sample
// bounded by the refresh too (a slow HAProxy delays the view, never piles
// samples up).
func New(sample func(context.Context) Snapshot, refresh time.Duration) Model {
	return Model{sample: sample, every: refresh, timeout: refresh, hist: map[string][]int64{}, rate: map[string]float64{}}
}

// Init takes the first sample at once.
func (m Model) Init() tea.Cmd { return m.fetch }

func (m Model) fetch() tea.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	return SnapshotMsg(m.sample(ctx))
}

// Update handles keys, the window's size and snapshots.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch msg.String() {
		case "q", "ctrl+c":
			return m, tea.Quit
		case "tab", "right":
			m.backend = m.step(1)
		case "shift+tab", "left":
			m.backend = m.step(-1)
		case "s":
			m.sortBy = (m.sortBy + 1) % 3
		}
	case SnapshotMsg:
		m.record(Snapshot(msg))
		return m, tea.Tick(m.every, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.fetch
	}
	return m, nil
}

// step is the backend d places from the one shown, wrapping around.
func (m Model) step(d int) string {
	all := m.snap.Backends()
	if len(all) == 0 {
		return m.backend
	}
	i := sort.SearchStrings(all, m.backend)
	if i == len(all) || all[i] != m.backend {
		i = 0
	}
	return all[(i+d+len(all))%len(all)]
}

// record keeps snap, each server's sessions history and its connects per
// second since the last snapshot (from HAProxy's cumulative Stot; a
// counter that went back, after a reload, gives no rate).
func (m *Model) record(snap Snapshot) {
	hist, rate, prev := map[string][]int64{}, map[string]float64{}, map[string]int64{}
	dt := snap.At.Sub(m.prevAt).Seconds()
	for _, s := range snap.Servers {
		k := serverKey(s)
		h := append(m.hist[k], s.Scur)
		if len(h) > History {
			h = h[len(h)-History:]
		}
		hist[k] = h
		prev[k] = s.Stot
		if p, ok := m.prev[k]; ok && dt > 0 && s.Stot >= p {
			rate[k] = float64(s.Stot-p) / dt
		}
	}
	m.snap, m.hist, m.rate, m.prev, m.prevAt = snap, hist, rate, prev, snap.At
	if all := snap.Backends(); len(all) > 0 && !contains(all, m.backend) {
		m.backend = all[0]
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func serverKey(s Server) string { return s.Socket + "\x00" + s.Backend + "/" + s.Server }

// Snapshot is the snapshot shown.
func (m Model) Snapshot() Snapshot { return m.snap }

// Backend is the backend shown.
func (m Model) Backend() string { return m.backend }

var (
	bold  = lipgloss.NewStyle().Bold(true)
	dim   = lipgloss.NewStyle().Faint(true)
	warn  = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	alert = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	good  = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
)

// View draws the backend shown, then what is in progress, the fleet and
// the sources that failed.
func (m Model) View() tea.View {
	var b strings.Builder
	all := m.snap.Backends()
	pos := 0
	for i, n := range all {
		if n == m.backend {
			pos = i + 1
		}
	}
	at := "sampling…"
	if !m.snap.At.IsZero() {
		at = m.snap.At.Format("15:04:05")
	}
	fmt.Fprintf(&b, "%s  %s  backend %s (%d/%d)  sort: %s   %s\n\n", bold.Render("wsctl top"), at, bold.Render(m.backend), pos, len(all), m.sortBy,
		dim.Render("tab/←→ backend · s sort · q quit"))
	m.servers(&b)
	m.inProgress(&b)
	m.fleet(&b)
	if len(m.snap.Errors) > 0 {
		b.WriteString("\n" + bold.Render("Errors") + "\n")
		for _, e := range m.snap.Errors {
			b.WriteString("  " + alert.Render(e) + "\n")
		}
	}
	v := tea.NewView(b.String())
	v.AltScreen = true
	return v
}

func (m Model) servers(b *strings.Builder) {
	var rows []Server
	sockets := map[string]bool{}
	for _, s := range m.snap.Servers {
		sockets[s.Socket] = true
		if s.Backend == m.backend {
			rows = append(rows, s)
		}
	}
	m.sort(rows)
	many := len(sockets) > 1
	head := fmt.Sprintf("%-20s ", "SERVER")
	if many {
		head += fmt.Sprintf("%-16s ", "SOCKET")
	}
	head += fmt.Sprintf("%-6s %-8s %-7s %8s  %-*s %7s %6s", "ADMIN", "STATE", "CHECK", "SESSIONS", sparkWidth, "LAST 3 MIN", "CONN/S", "WEIGHT")
	b.WriteString(bold.Render(head) + "\n")
	for _, s := range rows {
		k := serverKey(s)
		fmt.Fprintf(b, "%-20s ", s.Server)
		if many {
			fmt.Fprintf(b, "%-16s ", filepath.Base(s.Socket))
		}
		check := s.Check
		if check == "" {
			check = "-"
		}
		fmt.Fprintf(b, "%s %s %-7s %8d  %s %7.1f %6d\n", adminStyle(s.Admin).Render(fmt.Sprintf("%-6s", s.Admin)),
			stateStyle(s.State).Render(fmt.Sprintf("%-8s", s.State)), check, s.Scur, Sparkline(m.hist[k], sparkWidth), m.rate[k], s.UserWeight)
	}
	if len(rows) == 0 {
		b.WriteString(dim.Render("  no server seen yet") + "\n")
	}
}

func (m Model) sort(rows []Server) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, c := rows[i], rows[j]
		switch m.sortBy {
		case BySessions:
			if a.Scur != c.Scur {
				return a.Scur > c.Scur
			}
		case ByState:
			if ra, rc := rank(a), rank(c); ra != rc {
				return ra > rc
			}
		}
		if a.Server != c.Server {
			return a.Server < c.Server
		}
		return a.Socket < c.Socket
	})
}

// rank puts what needs a look first: MAINT, DRAIN, then down.
func rank(s Server) int {
	r := map[haproxy.AdminState]int{haproxy.Maint: 4, haproxy.Drain: 2}[s.Admin]
	if s.State != haproxy.Up {
		r++
	}
	return r
}

func adminStyle(a haproxy.AdminState) lipgloss.Style {
	switch a {
	case haproxy.Ready:
		return good
	case haproxy.Drain:
		return warn
	}
	return alert
}

func stateStyle(s haproxy.OpState) lipgloss.Style {
	switch s {
	case haproxy.Up:
		return good
	case haproxy.Starting:
		return warn
	}
	return alert
}

// inProgress lists what moves WebSockets now: servers out with sessions
// left (a drain, a rollout's drain, a rebalance closing them), intents,
// rollouts and old workers.
func (m Model) inProgress(b *strings.Builder) {
	var lines []string
	for _, s := range m.snap.Servers {
		if s.Admin != haproxy.Ready && s.Scur > 0 {
			lines = append(lines, fmt.Sprintf("%s/%s %s on %s: %d sessions left", s.Backend, s.Server, warn.Render(string(s.Admin)), filepath.Base(s.Socket), s.Scur))
		}
	}
	for _, in := range m.snap.Intents {
		l := fmt.Sprintf("intent %s %s since %s", in.Ref(), in.State, in.Since.Local().Format("15:04:05"))
		if in.Who != "" {
			l += " by " + in.Who
		}
		if in.Reason != "" {
			l += fmt.Sprintf(" (%s)", in.Reason)
		}
		if in.Op != nil && in.Op.ID != "" {
			l += " op " + in.Op.ID
		}
		lines = append(lines, l)
	}
	for _, r := range m.snap.Rollouts {
		l := fmt.Sprintf("rollout %s: %s", r.Backend, r.Where)
		if r.Paused {
			l += " (paused: waiting for --next)"
		}
		lines = append(lines, l)
	}
	for _, w := range m.snap.Old {
		var per []string
		for _, bk := range sortedKeys(w.Sessions) {
			per = append(per, fmt.Sprintf("%s %d", bk, w.Sessions[bk]))
		}
		lines = append(lines, fmt.Sprintf("old worker %d (%d reloads ago): %d WebSockets %s", w.Pid, w.Reloads, w.Total(), strings.Join(per, ", ")))
	}
	b.WriteString("\n" + bold.Render("In progress") + "\n")
	if len(lines) == 0 {
		b.WriteString(dim.Render("  nothing: no drain, intent, rollout or old worker") + "\n")
	}
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
}

// fleet is every load balancer's reports on the backend shown.
func (m Model) fleet(b *strings.Builder) {
	v := m.snap.Fleet
	if v == nil {
		return
	}
	fmt.Fprintf(b, "\n%s: %d load balancers: %s\n", bold.Render("Fleet"), len(v.Agents), strings.Join(sortedKeys(v.Agents), " "))
	var refs []haproxy.Ref
	for ref := range v.Progress {
		if ref.Backend == m.backend {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Server < refs[j].Server })
	if len(refs) == 0 {
		b.WriteString(dim.Render("  no report on "+m.backend) + "\n")
		return
	}
	b.WriteString(bold.Render(fmt.Sprintf("  %-16s %-20s %-6s %-8s %-10s %8s %6s", "LB", "SERVER", "ADMIN", "STATE", "PHASE", "SESSIONS", "CLOSED")) + "\n")
	for _, ref := range refs {
		for _, agent := range sortedKeys(v.Progress[ref]) {
			p := v.Progress[ref][agent]
			fmt.Fprintf(b, "  %-16s %-20s %-6s %-8s %-10s %8d %6d\n", agent, ref.Server, p.Admin, p.State, p.Phase, p.Sessions, p.Closed)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Sparkline draws values in width cells, the newest on the right, each
// cell the highest of its share of the values, scaled to the highest of
// all; fewer values than cells leave the left blank.
func Sparkline(values []int64, width int) string {
	bars := []rune("▁▂▃▄▅▆▇█")
	per := max(1, (len(values)+width-1)/width)
	var cells []int64
	for end := len(values); end > 0 && len(cells) < width; end -= per {
		var hi int64
		for _, v := range values[max(0, end-per):end] {
			hi = max(hi, v)
		}
		cells = append(cells, hi)
	}
	var top int64
	for _, c := range cells {
		top = max(top, c)
	}
	out := []rune(strings.Repeat(" ", width-len(cells)))
	for i := len(cells) - 1; i >= 0; i-- {
		idx := 0
		if top > 0 {
			idx = int(cells[i] * int64(len(bars)-1) / top)
		}
		out = append(out, bars[idx])
	}
	return string(out)
}
