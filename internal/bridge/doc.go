// Package bridge is `parley mcp`: the process an MCP client (Claude Code,
// Gemini CLI, Codex, Cursor, Windsurf) spawns over stdio for one agent
// session. It finds the hub, or becomes it when none answers on a
// loopback address (the first bridge to take the data directory's lock
// and bind the port wins); it takes over when the hub's process exits,
// from the same store, so nothing acknowledged is lost and agents keep
// their names; it registers the agent under a stable name whose token it
// keeps on disk, holds the agent's presence, and pushes new messages,
// commands and awaited signals into the session where the client
// supports it (Claude Code channels).
//
// The MCP tools themselves live in package mcpserver; the bridge gives
// them a Backend that calls the hub over HTTP and survives failover.
package bridge
