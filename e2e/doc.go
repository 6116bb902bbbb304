// Package e2e tests the real parley binary: TestMain builds it once, and
// each test runs it as a process with a temporary data directory on a
// loopback port and talks to it over HTTP, as agents and curl would.
// It holds only tests.
package e2e
