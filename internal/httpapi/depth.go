package httpapi

import "github.com/parley-dev/parley/internal/hub"

// MaxJSONDepth is how deeply arrays and objects may nest in a request
// body. encoding/json stops at 10,000 levels; stored values (channel
// posts, state, command params) are read back by agents and rendered by
// the dashboard, so the hub refuses much less: no real payload nests
// this deep, and a bound keeps every reader's recursion small.
const MaxJSONDepth = 100

// checkDepth refuses JSON nested deeper than MaxJSONDepth. It scans the
// bytes once, skipping strings, and needs no valid JSON: it runs before
// the decoder, so a pathological body costs one linear pass.
func checkDepth(data []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > MaxJSONDepth {
				return hub.Errorf(hub.CodeInvalid, "request body nests arrays and objects deeper than %d levels", MaxJSONDepth)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
