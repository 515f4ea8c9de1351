package drain_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/haproxy"
)

// Drain ws/backend2 on two HAProxy processes: wait 30 s for the WebSockets
// to leave, then close the rest at 50 per second across both, and give up
// after 3 minutes.
func ExampleRun() {
	ctx := context.Background()
	var targets []drain.Target
	for _, sock := range []string{"/run/haproxy/a.sock", "/run/haproxy/b.sock"} {
		c, err := haproxy.Dial(ctx, sock, 5*time.Second)
		if err != nil {
			log.Fatal(err)
		}
		targets = append(targets, drain.Target{Socket: sock, Runtime: c, Backend: "ws", Server: "backend2"})
	}
	res, err := drain.Run(ctx, targets, drain.Options{
		Timeout: 3 * time.Minute,
		Close:   &drain.Close{After: 30 * time.Second, Rate: 50},
	})
	if err != nil {
		log.Fatal(err) // invalid options; nothing was changed
	}
	for _, r := range res.Reports {
		fmt.Printf("%s: %s, %d of %d sessions closed by the drain, now %s\n", r.Target, r.Outcome, r.Closed, r.Before, r.Admin)
	}
	if res.Outcome() != drain.Drained {
		log.Fatal(res.Outcome(), res.Err())
	}
}
