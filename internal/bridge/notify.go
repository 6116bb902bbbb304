package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// errNotConnected reports a notification sent before the session started.
var errNotConnected = errors.New("MCP session not connected")

// notifyTransport wraps an MCP transport so that the bridge can send
// notifications the SDK has no call for (notifications/claude/channel).
// It keeps the connection the SDK reads and writes, and writes extra
// JSON-RPC notifications on it; the connection serializes every Write
// (the SDK's stdio and in-memory connections hold a lock per write), so
// a notification never interleaves with the SDK's own messages.
type notifyTransport struct {
	mcp.Transport

	mu   sync.Mutex
	conn mcp.Connection
}

// Connect implements mcp.Transport.
func (t *notifyTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.conn = c
	t.mu.Unlock()
	return c, nil
}

// Notify writes a JSON-RPC notification with params on the connection.
func (t *notifyTransport) Notify(ctx context.Context, method string, params any) error {
	t.mu.Lock()
	c := t.conn
	t.mu.Unlock()
	if c == nil {
		return errNotConnected
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	return c.Write(ctx, &jsonrpc.Request{Method: method, Params: raw})
}
