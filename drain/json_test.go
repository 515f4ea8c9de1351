package drain_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wsctl/wsctl/drain"
	"github.com/wsctl/wsctl/paced"
)

func TestSecondsHasNoFloatNoise(t *testing.T) {
	b, err := json.Marshal(drain.SocketSummary{Elapsed: paced.Seconds(2986 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"elapsed_s":2.986}`) {
		t.Errorf("JSON %s, want elapsed_s 2.986", b)
	}
	if got := paced.Seconds(1234567 * time.Microsecond); got != 1.235 {
		t.Errorf("seconds(1.234567s) = %v, want 1.235 (rounded to the millisecond)", got)
	}
}
