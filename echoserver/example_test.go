package echoserver_test

import (
	"context"
	"fmt"
	"net"

	"github.com/gorilla/websocket"

	"github.com/wsctl/wsctl/echoserver"
)

// A client is greeted with the backend's name, then hears its own messages.
func ExampleServer() {
	srv, _ := echoserver.New(echoserver.DefaultConfig("backend1"))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.Close()
	_, greeting, _ := ws.ReadMessage()
	fmt.Println(string(greeting))
	ws.WriteMessage(websocket.TextMessage, []byte("ping 1"))
	_, echo, _ := ws.ReadMessage()
	fmt.Println(string(echo))
	// Output:
	// {"type":"hello","server":"backend1","conn":1}
	// ping 1
}
