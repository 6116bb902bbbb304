// Package mcpserver holds Parley's MCP tools: identity, peers, messages,
// commands, channels, signals, votes, leases, shared state and hub
// status, with the instructions that explain the workflow to an agent.
//
// The tools are written against Backend, one agent session's view of a
// hub, so the same tools run in two places: on the hub, where Local calls
// the hub.Service in process for MCP over Streamable HTTP (/mcp) and SSE
// (/mcp/sse), and in `parley mcp`, where the bridge implements Backend
// over the HTTP client. Results are short text an LLM reads easily, each
// message marked with its authenticated sender, with the structured JSON
// alongside.
package mcpserver
