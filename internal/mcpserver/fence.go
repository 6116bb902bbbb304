package mcpserver

import "strings"

// unfence keeps text from another agent from forging the fences that
// tool results put around each message ("--- message 7 from alice
// (authenticated) ..." and "--- end of message 7 ---"): a line of the
// text that starts with "--- " gets a leading space, so the only lines
// that start a fence are the hub's own. A Markdown rule ("---" alone) is
// left as it is.
func unfence(s string) string {
	if !strings.HasPrefix(s, "--- ") && !strings.Contains(s, "\n--- ") {
		return s
	}
	if strings.HasPrefix(s, "--- ") {
		s = " " + s
	}
	return strings.ReplaceAll(s, "\n--- ", "\n --- ")
}
