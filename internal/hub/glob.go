package hub

import (
	"path"
	"strings"
	"unicode/utf8"
)

// Glob patterns of leases. A pattern is a slash-separated path relative
// to a repository root. Each segment follows path.Match ('*', '?',
// '[...]', '\\' escapes, never crossing '/'); a segment that is exactly
// "**" matches any number of segments, none included. A trailing slash
// means everything below: "src/api/" is "src/api/**".

// Limits on patterns.
const (
	maxPatternLen = 1024
	maxPatterns   = 64
)

// NormalizePattern checks a lease pattern and returns its canonical form.
func NormalizePattern(p string) (string, error) {
	orig := p
	p = strings.TrimSpace(p)
	if p == "" {
		return "", Errorf(CodeInvalid, "pattern is empty")
	}
	if len(p) > maxPatternLen || !utf8.ValidString(p) {
		return "", Errorf(CodeInvalid, "pattern: must be valid UTF-8 of at most %d bytes", maxPatternLen)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", Errorf(CodeInvalid, "pattern %q: control characters are not allowed", truncate(orig, 80))
		}
	}
	if strings.HasPrefix(p, "/") {
		return "", Errorf(CodeInvalid, "pattern %q: must be relative to the repository root, not absolute", truncate(orig, 80))
	}
	if strings.HasSuffix(p, "/") {
		p += "**"
	}
	p = path.Clean(p)
	segs := strings.Split(p, "/")
	for _, seg := range segs {
		if seg == ".." {
			return "", Errorf(CodeInvalid, "pattern %q: \"..\" is not allowed", truncate(orig, 80))
		}
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return "", Errorf(CodeInvalid, "pattern %q: segment %q is not a valid glob", truncate(orig, 80), truncate(seg, 80))
		}
	}
	if p == "." {
		return "", Errorf(CodeInvalid, "pattern %q: names nothing; use ** for everything", orig)
	}
	return p, nil
}

// normalizePath cleans a repository-relative path for matching.
func normalizePath(p string) string {
	p = strings.TrimSpace(p)
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	return p
}

// MatchPattern reports whether the path matches the lease pattern. Both
// are taken relative to the repository root; a malformed pattern
// matches nothing.
func MatchPattern(pattern, name string) bool {
	ps := strings.Split(pattern, "/")
	ns := strings.Split(normalizePath(name), "/")
	return intersects(len(ps), len(ns),
		func(i int) bool { return ps[i] == "**" },
		func(int) bool { return false },
		func(i, j int) bool {
			ok, err := path.Match(ps[i], ns[j])
			return ok && err == nil
		})
}

// PatternsOverlap reports whether some path could match both patterns.
// It is exact for '*', '?', literals and character classes, and never
// reports false for patterns that do overlap.
func PatternsOverlap(a, b string) bool {
	as := strings.Split(a, "/")
	bs := strings.Split(b, "/")
	return intersects(len(as), len(bs),
		func(i int) bool { return as[i] == "**" },
		func(j int) bool { return bs[j] == "**" },
		func(i, j int) bool { return segmentsOverlap(as[i], bs[j]) })
}

// intersects decides whether two token sequences, of n and m tokens,
// accept a common word. A star token accepts any run of symbols, none
// included; any other token accepts one symbol, and compat(i, j) says
// whether tokens i and j accept a common symbol. It searches the product
// of the two automata, visiting each pair of positions once.
func intersects(n, m int, starA, starB func(int) bool, compat func(i, j int) bool) bool {
	type state struct{ i, j int }
	seen := make(map[state]bool)
	stack := []state{{0, 0}}
	push := func(s state) {
		if !seen[s] {
			seen[s] = true
			stack = append(stack, s)
		}
	}
	seen[state{0, 0}] = true
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.i == n && s.j == m {
			return true
		}
		aStar := s.i < n && starA(s.i)
		bStar := s.j < m && starB(s.j)
		if aStar {
			push(state{s.i + 1, s.j}) // the star accepts nothing more
		}
		if bStar {
			push(state{s.i, s.j + 1})
		}
		if s.i == n || s.j == m {
			continue
		}
		switch {
		case aStar && bStar:
			// Both stars take the same symbol and stay: no new state.
		case aStar:
			push(state{s.i, s.j + 1}) // a's star takes b's symbol
		case bStar:
			push(state{s.i + 1, s.j})
		case compat(s.i, s.j):
			push(state{s.i + 1, s.j + 1})
		}
	}
	return false
}

// globToken is one element of a path.Match segment pattern.
type globToken struct {
	kind   byte // 'l' literal, '?' any one, '*' any run, '[' class
	r      rune
	neg    bool
	ranges [][2]rune
}

// parseSegment splits a valid path.Match pattern into tokens.
func parseSegment(p string) []globToken {
	var toks []globToken
	for i := 0; i < len(p); {
		switch p[i] {
		case '*':
			toks = append(toks, globToken{kind: '*'})
			i++
		case '?':
			toks = append(toks, globToken{kind: '?'})
			i++
		case '[':
			t := globToken{kind: '['}
			i++
			if i < len(p) && p[i] == '^' {
				t.neg = true
				i++
			}
			for i < len(p) && p[i] != ']' {
				lo, n := classRune(p[i:])
				i += n
				hi := lo
				if i < len(p) && p[i] == '-' {
					i++
					hi, n = classRune(p[i:])
					i += n
				}
				t.ranges = append(t.ranges, [2]rune{lo, hi})
			}
			i++ // ']'
			toks = append(toks, t)
		case '\\':
			i++
			r, n := utf8.DecodeRuneInString(p[i:])
			toks = append(toks, globToken{kind: 'l', r: r})
			i += n
		default:
			r, n := utf8.DecodeRuneInString(p[i:])
			toks = append(toks, globToken{kind: 'l', r: r})
			i += n
		}
	}
	return toks
}

// classRune reads one possibly escaped rune inside a class.
func classRune(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, n + 1
	}
	return utf8.DecodeRuneInString(s)
}

func (t globToken) has(r rune) bool {
	switch t.kind {
	case 'l':
		return t.r == r
	case '?':
		return r != '/'
	case '[':
		in := false
		for _, rg := range t.ranges {
			if rg[0] <= r && r <= rg[1] {
				in = true
				break
			}
		}
		return in != t.neg && r != '/'
	}
	return false
}

// overlaps reports whether some rune is accepted by both t and b.
func (t globToken) overlaps(b globToken) bool {
	switch {
	case t.kind == 'l':
		return b.has(t.r)
	case b.kind == 'l':
		return t.has(b.r)
	case t.kind == '?' && b.kind == '?':
		return true
	case t.kind == '?':
		// Any one symbol against a class: a class with a range has a
		// symbol; a negated one has infinitely many.
		return b.neg || len(b.ranges) > 0
	case b.kind == '?':
		return t.neg || len(t.ranges) > 0
	case t.neg && b.neg:
		return true
	case t.neg:
		return b.overlaps(t)
	}
	// t is a positive class; look for one of its runes in b: the start
	// of each range, and each point just past a range of a negated b.
	for _, rg := range t.ranges {
		if b.has(rg[0]) {
			return true
		}
		for _, brg := range b.ranges {
			for _, r := range []rune{brg[0], brg[1] + 1} {
				if rg[0] <= r && r <= rg[1] && b.has(r) {
					return true
				}
			}
		}
	}
	return false
}

// segmentsOverlap reports whether some segment matches both path.Match
// patterns a and b.
func segmentsOverlap(a, b string) bool {
	if a == b {
		return true
	}
	at, bt := parseSegment(a), parseSegment(b)
	return intersects(len(at), len(bt),
		func(i int) bool { return at[i].kind == '*' },
		func(j int) bool { return bt[j].kind == '*' },
		func(i, j int) bool { return at[i].overlaps(bt[j]) })
}
