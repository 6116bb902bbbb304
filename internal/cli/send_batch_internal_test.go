package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestChunkBatch(t *testing.T) {
	small := hub.SendRequest{To: []string{"bob"}, Body: "x"}
	big := hub.SendRequest{To: []string{"bob"}, Body: strings.Repeat("y", 3<<20)}
	rep := func(r hub.SendRequest, n int) []hub.SendRequest {
		out := make([]hub.SendRequest, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	for _, tt := range []struct {
		name string
		reqs []hub.SendRequest
		want []int
	}{
		{"one", rep(small, 1), []int{1}},
		{"exactly a batch", rep(small, hub.MaxBatch), []int{hub.MaxBatch}},
		{"by count", rep(small, 2*hub.MaxBatch+201), []int{hub.MaxBatch, hub.MaxBatch, 201}},
		{"by bytes", append(rep(big, 3), small), []int{2, 2}},
	} {
		chunks, err := chunkBatch(tt.reqs)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []int
		for _, c := range chunks {
			got = append(got, len(c))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: chunks of %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := chunkBatch([]hub.SendRequest{{To: []string{"bob"}, Body: strings.Repeat("z", hub.MaxBatchBytes)}}); err == nil {
		t.Error("a message larger than a batch was chunked")
	}
}
