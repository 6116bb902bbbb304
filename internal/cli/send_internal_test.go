package cli

import (
	"bytes"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestPrintSent(t *testing.T) {
	m := hub.Message{ID: 7, Thread: "7"}
	tests := []struct {
		name string
		res  hub.SendResult
		want string
	}{
		{"delivered", hub.SendResult{Message: m, Deliveries: []hub.DeliveryStatus{{To: "bob", State: hub.DeliveryUnread}}},
			"sent #7 to bob\n"},
		{"held", hub.SendResult{Message: m, Queued: []string{"dave"}, Deliveries: []hub.DeliveryStatus{{To: "dave", State: hub.DeliveryHeld}}},
			"queued #7\nheld for dave: not registered yet; delivered when they register\n"},
		{"an inbox full", hub.SendResult{Message: m, Full: []string{"bob", "erin"}, Deliveries: []hub.DeliveryStatus{{To: "carol", State: hub.DeliveryUnread}}},
			"sent #7 to carol\nnot delivered to bob, erin: inbox full; they must read some first\n"},
		{"duplicate", hub.SendResult{Message: m, Duplicate: true},
			"already sent as #7 (same --key); not sent again\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printSent(&b, tt.res, "--key")
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}
