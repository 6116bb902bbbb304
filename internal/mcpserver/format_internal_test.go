package mcpserver

import (
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestFormatSend(t *testing.T) {
	m := hub.Message{ID: 7, Thread: "7"}
	tests := []struct {
		name string
		res  hub.SendResult
		want []string
	}{
		{"delivered", hub.SendResult{Message: m, Deliveries: []hub.DeliveryStatus{{To: "bob", State: hub.DeliveryUnread}}},
			[]string{"Sent message 7", "Delivered to: bob."}},
		{"an inbox full", hub.SendResult{Message: m, Full: []string{"bob"}, Deliveries: []hub.DeliveryStatus{{To: "carol", State: hub.DeliveryUnread}}},
			[]string{"Delivered to: carol.", "Not delivered to bob: inbox full"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatSend(tt.res)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %q, want it to contain %q", got, w)
				}
			}
		})
	}
}
