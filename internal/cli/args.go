package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parley-dev/parley/internal/hub"
)

// parseDeadlineFlag parses --deadline: a duration (10m) or an RFC 3339
// time; "" is none.
func parseDeadlineFlag(s string) (hub.Deadline, error) {
	d, err := hub.ParseDeadline(s)
	if err != nil {
		return hub.Deadline{}, fmt.Errorf("--deadline: %s", hub.PublicMessage(err))
	}
	return d, nil
}

// argsRange accepts between min and max positional arguments (max < 0:
// no limit); otherwise it names the usage.
func argsRange(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || max >= 0 && len(args) > max {
			return fmt.Errorf("%s: wrong number of arguments (%d); usage: parley %s", cmd.Name(), len(args), cmd.Use)
		}
		return nil
	}
}

// parseID parses a message ID: a positive number, "#12" accepted.
func parseID(s string) (int64, error) { return parseIDOf("message", s) }

// parseIDOf parses the ID of a kind of record ("message", "lease"...):
// a positive number, "#12" accepted. Its error names the kind.
func parseIDOf(kind, s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "#"), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a %s id (want a number such as 12)", s, kind)
	}
	return n, nil
}

// numFlag is a flag holding a whole number of at least min; with id set
// it is a message ID ("#12" accepted). Its errors say what is wanted.
type numFlag struct {
	n   int64
	min int64
	id  bool
}

var _ pflag.Value = (*numFlag)(nil)

// String implements pflag.Value.
func (f *numFlag) String() string { return strconv.FormatInt(f.n, 10) }

// Type implements pflag.Value: "ID" or "N", as help shows it.
func (f *numFlag) Type() string {
	if f.id {
		return "ID"
	}
	return "N"
}

// Set implements pflag.Value.
func (f *numFlag) Set(s string) error {
	if f.id {
		n, err := parseID(s)
		if err != nil {
			return err
		}
		f.n = n
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < f.min {
		return fmt.Errorf("must be at least %d", f.min)
	}
	f.n = n
	return nil
}

// Int returns the value as an int.
func (f *numFlag) Int() int { return int(f.n) }
