// Package hub is the domain of Parley: agents, messages, commands,
// channels, signals, proposals, leases, shared state and the events they
// raise, together with the rules that govern them.
//
// The package does no I/O of its own. The Service implements every rule
// on top of two small interfaces, a durable Store and an event Bus, so
// that the HTTP API, the MCP tools, the CLI and the dashboard all share
// one implementation and another storage engine can replace SQLite.
package hub
