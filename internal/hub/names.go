package hub

import (
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest agent, role, channel, signal or key name.
const MaxNameLen = 64

// NormalizeName case-folds name and checks it against the naming rules:
// 1 to 64 characters of a-z 0-9 . _ -, starting with a letter or digit,
// without "..". what names the kind of name in the error ("agent name",
// "role", "channel"...).
func NormalizeName(what, name string) (string, error) {
	if name == "" {
		return "", Errorf(CodeInvalidName, "%s is empty", what)
	}
	if !utf8.ValidString(name) {
		return "", Errorf(CodeInvalidName, "%s is not valid UTF-8", what)
	}
	if len(name) > MaxNameLen {
		return "", Errorf(CodeInvalidName, "%s %q is longer than %d characters", what, truncate(name, 80), MaxNameLen)
	}
	lower := strings.ToLower(name)
	for i, r := range lower {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !ok && i > 0 {
			ok = r == '.' || r == '_' || r == '-'
		}
		if !ok {
			return "", Errorf(CodeInvalidName, "%s %q: character %q at position %d is not allowed (use a-z, 0-9, '.', '_', '-'; start with a letter or digit)", what, name, r, i)
		}
	}
	if strings.Contains(lower, "..") {
		return "", Errorf(CodeInvalidName, "%s %q must not contain \"..\"", what, name)
	}
	return lower, nil
}

// NormalizeOptionalName is NormalizeName that accepts the empty string.
func NormalizeOptionalName(what, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	return NormalizeName(what, name)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Address kinds accepted by Send.
const (
	// Broadcast addresses every registered agent.
	Broadcast = "*"
	// RolePrefix addresses every agent with the role that follows it.
	RolePrefix = "role:"
)

// Address is one parsed recipient address.
type Address struct {
	Name      string // an agent name, when neither Role nor All is set
	Role      string // role:<role>
	Broadcast bool   // *
}

// String returns the address as written.
func (a Address) String() string {
	switch {
	case a.Broadcast:
		return Broadcast
	case a.Role != "":
		return RolePrefix + a.Role
	}
	return a.Name
}

// ParseAddress parses one recipient: a name, "role:<role>" or "*".
func ParseAddress(s string) (Address, error) {
	switch {
	case s == Broadcast:
		return Address{Broadcast: true}, nil
	case strings.HasPrefix(strings.ToLower(s), RolePrefix):
		role, err := NormalizeName("role", s[len(RolePrefix):])
		if err != nil {
			return Address{}, err
		}
		return Address{Role: role}, nil
	}
	name, err := NormalizeName("recipient", s)
	if err != nil {
		return Address{}, err
	}
	return Address{Name: name}, nil
}
