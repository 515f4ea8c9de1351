package lint_test

import (
	"fmt"
	"time"

	"github.com/wsctl/wsctl/lint"
)

func ExampleLint() {
	config := `location /ws {
    proxy_pass http://127.0.0.1:9000;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
    proxy_read_timeout 20s;
    proxy_buffering off;
}
`
	findings, err := lint.Lint("ws.conf", []byte(config), lint.Options{Heartbeat: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		fmt.Printf("%s:%d: %s %s\n", f.File, f.Line, f.Severity, f.Rule)
	}
	fmt.Println("fails:", lint.Fails(findings, false))
	// Output:
	// ws.conf:5: warning nginx/connection-hardcoded
	// ws.conf:6: error nginx/read-timeout
	// fails: true
}
