package hub_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "plain", in: "alice", want: "alice"},
		{name: "case folded", in: "Alice", want: "alice"},
		{name: "digits and punctuation", in: "be-2.x_y", want: "be-2.x_y"},
		{name: "64 characters", in: strings.Repeat("a", 64), want: strings.Repeat("a", 64)},
		{name: "empty", in: "", wantErr: true},
		{name: "65 characters", in: strings.Repeat("a", 65), wantErr: true},
		{name: "dot dot", in: "a..b", wantErr: true},
		{name: "only dots", in: "..", wantErr: true},
		{name: "slash", in: "a/b", wantErr: true},
		{name: "space", in: "x y", wantErr: true},
		{name: "full-width letters", in: "ａｂｃ", wantErr: true},
		{name: "trailing newline", in: "alice\n", wantErr: true},
		{name: "leading dash", in: "-alice", wantErr: true},
		{name: "leading dot", in: ".alice", wantErr: true},
		{name: "invalid utf8", in: "a\xffb", wantErr: true},
		{name: "star", in: "*", wantErr: true},
		{name: "colon", in: "role:x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hub.NormalizeName("agent name", tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NormalizeName(%q) = %q, want an error", tt.in, got)
				}
				if !errors.Is(err, hub.ErrInvalidName) {
					t.Fatalf("NormalizeName(%q) error %v, want code invalid_name", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    hub.Address
		wantErr bool
	}{
		{in: "bob", want: hub.Address{Name: "bob"}},
		{in: "*", want: hub.Address{Broadcast: true}},
		{in: "role:backend", want: hub.Address{Role: "backend"}},
		{in: "ROLE:Backend", want: hub.Address{Role: "backend"}},
		{in: "role:", wantErr: true},
		{in: "role:a/b", wantErr: true},
		{in: "bob\n", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := hub.ParseAddress(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseAddress(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("ParseAddress(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	e := hub.Event{Kind: "message.sent", Actor: "alice", Targets: []string{"bob"}, Subject: "7"}
	tests := []struct {
		name string
		f    hub.Filter
		want bool
	}{
		{"empty matches", hub.Filter{}, true},
		{"exact kind", hub.Filter{Kinds: []string{"message.sent"}}, true},
		{"kind prefix", hub.Filter{Kinds: []string{"message"}}, true},
		{"partial word is no prefix", hub.Filter{Kinds: []string{"mess"}}, false},
		{"other kind", hub.Filter{Kinds: []string{"agent"}}, false},
		{"actor", hub.Filter{Agents: []string{"alice"}}, true},
		{"target", hub.Filter{Agents: []string{"bob"}}, true},
		{"stranger", hub.Filter{Agents: []string{"carol"}}, false},
		{"subject", hub.Filter{Subjects: []string{"7"}}, true},
		{"other subject", hub.Filter{Subjects: []string{"8"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(e); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}
