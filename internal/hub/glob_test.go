package hub_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parley-dev/parley/internal/hub"
)

func TestNormalizePattern(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "src/api/**", want: "src/api/**"},
		{in: "./src/api/", want: "src/api/**"},
		{in: "src//api/*.go", want: "src/api/*.go"},
		{in: "**", want: "**"},
		{in: "README.md", want: "README.md"},
		{in: "  docs/*.md ", want: "docs/*.md"},
		{in: "", bad: true},
		{in: "/etc/passwd", bad: true},
		{in: "../x", bad: true},
		{in: "a/../../x", bad: true},
		{in: "src/[a-", bad: true},
		{in: ".", bad: true},
		{in: "a\nb", bad: true},
		{in: strings.Repeat("a", 1025), bad: true},
	}
	for _, tt := range tests {
		got, err := hub.NormalizePattern(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("NormalizePattern(%q) = %q, want an error", tt.in, got)
			} else if hub.ErrorCode(err) != hub.CodeInvalid {
				t.Errorf("NormalizePattern(%q) code = %s, want invalid_argument", tt.in, hub.ErrorCode(err))
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePattern(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"src/api/**", "src/api/handler.go", true},
		{"src/api/**", "src/api/v1/deep/x.go", true},
		{"src/api/**", "src/api", true},
		{"src/api/**", "src/apix/a.go", false},
		{"src/api/**", "src/web/a.go", false},
		{"**", "anything/at/all.txt", true},
		{"**/*.go", "main.go", true},
		{"**/*.go", "a/b/c.go", true},
		{"**/*.go", "a/b/c.txt", false},
		{"src/**/test/*.go", "src/test/a.go", true},
		{"src/**/test/*.go", "src/a/b/test/a.go", true},
		{"src/**/test/*.go", "src/a/b/test/x/a.go", false},
		{"*.md", "README.md", true},
		{"*.md", "docs/README.md", false},
		{"docs/?.md", "docs/a.md", true},
		{"docs/?.md", "docs/ab.md", false},
		{"docs/[a-c]*.md", "docs/bravo.md", true},
		{"docs/[a-c]*.md", "docs/delta.md", false},
		{"docs/[^a-c]*.md", "docs/delta.md", true},
		{"src/api/**", "./src/api/x.go", true},
		{"README.md", "README.md", true},
		{"README.md", "readme.md", false},
	}
	for _, tt := range tests {
		if got := hub.MatchPattern(tt.pattern, tt.path); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestPatternsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"src/api/**", "src/api/handler.go", true},
		{"src/api/**", "src/**", true},
		{"src/api/**", "src/web/**", false},
		{"src/api/**", "**/*.go", true},
		{"**", "x", true},
		{"*.go", "*.md", false},
		{"*.go", "main.*", true},
		{"a*", "*b", true},
		{"a*", "b*", false},
		{"*a", "*b", false},
		{"a?c", "ab?", true},
		{"a?c", "ab", false},
		{"[a-c]x", "[c-e]x", true},
		{"[a-c]x", "[d-f]x", false},
		{"[^a-c]x", "[a-c]x", false},
		{"[^a-c]x", "[a-d]x", true},
		{"[^a]", "[^b]", true},
		{"src/*/main.go", "src/cmd/*", true},
		{"src/*/main.go", "src/cmd/x/main.go", false},
		{"src/**/main.go", "src/cmd/x/main.go", true},
		{"docs/**/*.md", "src/**", false},
		{"a/**/b", "a/**/c", false},
		{"a/**/b/**", "a/**/c/**", true},
		{"a/b", "a/b/c", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
	}
	for _, tt := range tests {
		if got := hub.PatternsOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("PatternsOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := hub.PatternsOverlap(tt.b, tt.a); got != tt.want {
			t.Errorf("PatternsOverlap(%q, %q) = %v, want %v (swapped)", tt.b, tt.a, got, tt.want)
		}
	}
}

// TestOverlapNeverMissesASharedPath checks the property leases rely on:
// whenever some path matches both patterns, PatternsOverlap says so. It
// draws patterns and paths from a small alphabet so that shared paths
// are common.
func TestOverlapNeverMissesASharedPath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	segPieces := []string{"a", "b", "*", "?", "[ab]", "[^a]"}
	pattern := func() string {
		n := 1 + r.IntN(3)
		segs := make([]string, n)
		for i := range segs {
			if r.IntN(5) == 0 {
				segs[i] = "**"
				continue
			}
			var b strings.Builder
			for range 1 + r.IntN(3) {
				b.WriteString(segPieces[r.IntN(len(segPieces))])
			}
			segs[i] = b.String()
		}
		return strings.Join(segs, "/")
	}
	path := func() string {
		n := 1 + r.IntN(4)
		segs := make([]string, n)
		for i := range segs {
			var b strings.Builder
			for range 1 + r.IntN(3) {
				b.WriteByte("abc"[r.IntN(3)])
			}
			segs[i] = b.String()
		}
		return strings.Join(segs, "/")
	}
	shared := 0
	for range 3000 {
		a, b := pattern(), pattern()
		for range 30 {
			p := path()
			if hub.MatchPattern(a, p) && hub.MatchPattern(b, p) {
				shared++
				if !hub.PatternsOverlap(a, b) {
					t.Fatalf("%q and %q both match %q, but PatternsOverlap says no", a, b, p)
				}
				break
			}
		}
	}
	if shared < 100 {
		t.Fatalf("only %d pattern pairs shared a path: the generator is too sparse to test anything", shared)
	}
}

// FuzzPatternsOverlap checks that the matcher and the overlap check
// never panic on any pattern, and that two valid patterns that both
// match a path always overlap.
func FuzzPatternsOverlap(f *testing.F) {
	f.Add("src/**/*.go", "src/api/[a-c]?x", "src/api/bx.go")
	f.Add(`a\*`, "a*", "a*")
	f.Add("[^a]b/**", "**/cb", "cb")
	f.Add("[", "]", "x")
	f.Fuzz(func(t *testing.T, a, b, path string) {
		na, errA := hub.NormalizePattern(a)
		nb, errB := hub.NormalizePattern(b)
		if errA != nil || errB != nil {
			hub.MatchPattern(a, path)
			hub.PatternsOverlap(a, b)
			return
		}
		if hub.MatchPattern(na, path) && hub.MatchPattern(nb, path) && !hub.PatternsOverlap(na, nb) {
			t.Fatalf("%q and %q both match %q, but PatternsOverlap says no", na, nb, path)
		}
	})
}
