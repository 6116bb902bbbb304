package hubserver

import (
	"net/http"

	"github.com/parley-dev/parley/internal/mcpserver"
)

// mountMCP serves MCP on the hub: Streamable HTTP at /mcp and the older
// HTTP+SSE transport at /mcp/sse, with tools that call the service in
// process, authenticated like the API.
func mountMCP(mux *http.ServeMux, h *Hub) error {
	m, err := mcpserver.NewHandler(h.svc, mcpserver.HandlerOptions{
		AdminSecret: h.adminSecret,
		JoinSecret:  h.cfg.JoinSecret,
		Version:     h.cfg.Version,
		Logger:      h.cfg.Logger.With("component", "mcp"),
	})
	if err != nil {
		return err
	}
	m.Mount(mux)
	return nil
}
