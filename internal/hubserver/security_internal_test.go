package hubserver

import (
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/httpapi"
)

func TestSecurityConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		limits httpapi.Limits
	}{
		{"defaults", Config{}, httpapi.DefaultLimits},
		{"rate off", Config{RateLimit: -1}, httpapi.Limits{MaxWaiters: httpapi.DefaultMaxWaiters}},
		{"rate set", Config{RateLimit: 5}, httpapi.Limits{Rate: 5, MaxWaiters: httpapi.DefaultMaxWaiters}},
		{"rate and burst", Config{RateLimit: 5, RateBurst: 7, MaxWaiters: 3}, httpapi.Limits{Rate: 5, Burst: 7, MaxWaiters: 3}},
		{"burst only", Config{RateBurst: 9}, httpapi.Limits{Rate: httpapi.DefaultRate, Burst: 9, MaxWaiters: httpapi.DefaultMaxWaiters}},
		{"waiters off", Config{MaxWaiters: -1}, httpapi.Limits{Rate: httpapi.DefaultRate, Burst: httpapi.DefaultBurst}},
	} {
		if got := tc.cfg.limits(); got != tc.limits {
			t.Errorf("%s: limits %+v, want %+v", tc.name, got, tc.limits)
		}
	}
	if n := (Config{MaxConns: -1}).maxConns(); n != 0 {
		t.Errorf("MaxConns -1: %d, want 0 (no bound)", n)
	}
	if n := (Config{MaxConns: 10}).maxConns(); n != 10 {
		t.Errorf("MaxConns 10: %d", n)
	}
	if n := (Config{}).maxConns(); n < minMaxConns || n > DefaultMaxConns {
		t.Errorf("default MaxConns %d, want within [%d, %d]", n, minMaxConns, DefaultMaxConns)
	}
	ok := Config{DataDir: "/d", Addr: "127.0.0.1:0"}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.TLSCert = "c.pem" }, "TLSCert and TLSKey"},
		{func(c *Config) { c.TLSKey = "k.pem" }, "TLSCert and TLSKey"},
		{func(c *Config) { c.ReadHeaderTimeout = -1 }, "ReadHeaderTimeout"},
		{func(c *Config) { c.IdleTimeout = -1 }, "IdleTimeout"},
		{func(c *Config) { c.RateBurst = -1 }, "RateBurst"},
	} {
		c := ok
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want an error naming %s", err, tc.want)
		}
	}
}
