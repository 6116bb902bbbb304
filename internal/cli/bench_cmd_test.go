package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchAgainstRunningHub runs a tiny parley bench against the hub at
// PARLEY_URL, registering with the admin secret of PARLEY_DATA, and
// checks the JSON report and that the bench agents are gone afterwards.
func TestBenchAgainstRunningHub(t *testing.T) {
	e := newEnv(t, false)
	out := e.ok("bench", "--json", "--scenario", "send,wake", "--count", "5", "--senders", "2", "--receivers", "1")
	var rep struct {
		Hub     string `json:"hub"`
		Results []struct {
			Target, Op string
			Ops        int64
			Rate       float64
		} `json:"results"`
		Checks []struct{ Target string } `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	if rep.Hub != e.hub.URL() {
		t.Errorf("hub %q, want the running hub %q", rep.Hub, e.hub.URL())
	}
	ops := map[string]int64{}
	for _, r := range rep.Results {
		ops[r.Op] = r.Ops
		if r.Rate <= 0 {
			t.Errorf("%s: rate %v, want > 0", r.Op, r.Rate)
		}
	}
	for _, op := range []string{"send", "wake", "wake.since"} {
		if ops[op] != 5 {
			t.Errorf("%s: %d ops, want 5", op, ops[op])
		}
	}
	if len(rep.Checks) == 0 {
		t.Error("no target checks in the report")
	}
	peers, err := e.admin().Peers(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if strings.HasPrefix(p.Name, "bench-") {
			t.Errorf("bench agent %s is still registered", p.Name)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	e := newEnv(t, false)
	e.fails("--preload", "bench", "--preload", "ten")
	e.fails("unknown scenario", "bench", "--self", "--scenario", "nope", "--count", "1")
	e.fails("choose one", "bench", "--self", "--spawn")
}
