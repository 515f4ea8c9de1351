package loadgen

import (
	"maps"
	"sync"
	"time"
)

// slot is the width of a timeline row.
const slot = 100 * time.Millisecond

// unknownServer is the per_server key of connections whose server sent no
// greeting.
const unknownServer = "unknown"

// Bucket is one timeline row: what happened in a 100ms slot of the run.
type Bucket struct {
	Connects int // handshakes that succeeded in the slot
	Closes   int // connections the peer closed (drops) in the slot
	Ends     int // connections that ended in the slot, drops or not
}

// collector gathers the counts of one run from every client goroutine.
type collector struct {
	start time.Time

	mu              sync.Mutex
	connected       int
	handshakeFailed int
	firstError      string
	dropped         int
	dropsByCode     map[string]int
	reconnects      int
	sent            int
	echoed          int
	lost            int
	landings        map[string]int
	live            map[string]int // open connections per server, "" = no greeting yet
	latency         latencies
	timeline        []Bucket
}

func newCollector(start time.Time) *collector {
	return &collector{
		start:       start,
		dropsByCode: make(map[string]int),
		landings:    make(map[string]int),
		live:        make(map[string]int),
	}
}

// bucket returns the timeline row for now; the caller holds mu.
func (s *collector) bucket(now time.Time) *Bucket {
	i := max(int(now.Sub(s.start)/slot), 0)
	if i >= len(s.timeline) {
		s.timeline = append(s.timeline, make([]Bucket, i+1-len(s.timeline))...)
	}
	return &s.timeline[i]
}

func (s *collector) handshakeOK(reconnect bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connected++
	if reconnect {
		s.reconnects++
	}
	s.live[""]++
	s.bucket(time.Now()).Connects++
}

func (s *collector) handshakeFailedWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakeFailed++
	if s.firstError == "" {
		s.firstError = err.Error()
	}
}

// landed moves a live connection from "no greeting yet" to server.
func (s *collector) landed(server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.landings[server]++
	s.live[""]--
	s.live[server]++
}

// ended records the end of a connection on server ("" without greeting).
// drop is its close code, "abrupt", or "" when this side closed it.
func (s *collector) ended(server, drop string, lost int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[server]--
	s.lost += lost
	b := s.bucket(time.Now())
	b.Ends++
	if drop != "" {
		s.dropped++
		s.dropsByCode[drop]++
		b.Closes++
	}
}

func (s *collector) sentOne() {
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
}

func (s *collector) echoedOne(rtt time.Duration) {
	s.mu.Lock()
	s.echoed++
	s.latency.add(rtt)
	s.mu.Unlock()
}

// perServer returns the live connections per server right now.
func (s *collector) perServer() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int)
	for server, n := range s.live {
		if n == 0 {
			continue
		}
		if server == "" {
			server = unknownServer
		}
		out[server] += n
	}
	return out
}

// result returns the counts gathered so far.
func (s *collector) result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Result{
		Connected:       s.connected,
		HandshakeFailed: s.handshakeFailed,
		FirstError:      s.firstError,
		Dropped:         s.dropped,
		DropsByCode:     maps.Clone(s.dropsByCode),
		Reconnects:      s.reconnects,
		Sent:            s.sent,
		Echoed:          s.echoed,
		LostEchoes:      s.lost,
		Landings:        maps.Clone(s.landings),
		EchoP50Ms:       millis(s.latency.quantile(0.50)),
		EchoP99Ms:       millis(s.latency.quantile(0.99)),
		Timeline:        append([]Bucket(nil), s.timeline...),
	}
}
