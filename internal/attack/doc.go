// Package attack holds Parley's attack suite: tests, and nothing else,
// that start a real hub (hubserver on 127.0.0.1:0 with a temporary data
// directory) and attack it over real HTTP and TCP with every bad input
// and abuse that PEERS.md lists for the systems Parley replaces, and more:
// spoofed identities, stolen, replayed, revoked and expired tokens,
// foreign Host and Origin headers, cross-site posts to the dashboard,
// script payloads, path traversal, oversized and deeply nested JSON,
// slowloris, thousands of idle connections and request floods.
//
// Each test asserts the exact refusal (status and error code) and that
// nothing changed. Every test is bounded in requests and time, stays on
// loopback and stops by itself. SECURITY.md describes the threat model
// these tests hold the hub to.
package attack
