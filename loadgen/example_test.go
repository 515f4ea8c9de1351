package loadgen_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/wsctl/wsctl/echoserver"
	"github.com/wsctl/wsctl/loadgen"
)

// Run against an in-process echo backend: three clients for half a second,
// an echo every 100ms on each.
func ExampleRun() {
	srv, _ := echoserver.New(echoserver.DefaultConfig("backend1"))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	cfg := loadgen.DefaultConfig()
	cfg.URL = "ws://" + ln.Addr().String() + "/ws"
	cfg.Conns = 3
	cfg.Duration = 500 * time.Millisecond
	cfg.Interval = 100 * time.Millisecond
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected", res.Connected, "dropped", res.Dropped, "lost", res.LostEchoes)
	fmt.Println("per_server", res.PerServer)
	// Output:
	// connected 3 dropped 0 lost 0
	// per_server map[backend1:3]
}
