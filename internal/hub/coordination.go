package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event kinds of coordination: commands, channels, signals, proposals,
// leases and shared state.
const (
	EventCommandSent     = "command.sent"
	EventCommandClaimed  = "command.claimed"
	EventCommandDone     = "command.done"
	EventCommandFailed   = "command.failed"
	EventCommandExpired  = "command.expired"
	EventChannelPosted   = "channel.posted"
	EventSignalEmitted   = "signal.emitted"
	EventSignalCleared   = "signal.cleared"
	EventProposalCreated = "proposal.created"
	EventProposalVoted   = "proposal.voted"
	EventProposalDecided = "proposal.decided"
	EventLeaseGranted    = "lease.granted"
	EventLeaseRenewed    = "lease.renewed"
	EventLeaseReleased   = "lease.released"
	EventLeaseExpired    = "lease.expired"
	EventStateSet        = "state.set"
	EventStateDeleted    = "state.deleted"
)

// CoordinationOptions configure commands, channels, proposals, leases
// and shared state. Zero fields take the Default values.
type CoordinationOptions struct {
	// ChannelKeep is how many posts each channel keeps; older ones are
	// dropped as new ones arrive.
	ChannelKeep int
	// ChannelMaxAge is how long a channel post is kept.
	ChannelMaxAge time.Duration
	// LeaseTTL is the lifetime of a lease that asks for none; MaxLeaseTTL
	// bounds what a reservation or renewal may ask for.
	LeaseTTL    time.Duration
	MaxLeaseTTL time.Duration
	// MaxValue bounds a command's params or result, a channel post, a
	// signal's data and a shared state value, in bytes.
	MaxValue int
}

// Defaults for CoordinationOptions and limits of coordination.
const (
	DefaultChannelKeep   = 10_000
	DefaultChannelMaxAge = 7 * 24 * time.Hour
	DefaultLeaseTTL      = time.Hour
	DefaultMaxLeaseTTL   = 7 * 24 * time.Hour
	DefaultMaxValue      = 1 << 20
	// MaxDeadline is the furthest in the future a deadline may be.
	MaxDeadline = 366 * 24 * time.Hour
	// DefaultListLimit and MaxListLimit bound the lists of commands,
	// channel posts, proposals and state entries.
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

func (o *CoordinationOptions) setDefaults() {
	if o.ChannelKeep <= 0 {
		o.ChannelKeep = DefaultChannelKeep
	}
	if o.ChannelMaxAge <= 0 {
		o.ChannelMaxAge = DefaultChannelMaxAge
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.MaxLeaseTTL <= 0 {
		o.MaxLeaseTTL = DefaultMaxLeaseTTL
	}
	if o.LeaseTTL > o.MaxLeaseTTL {
		o.LeaseTTL = o.MaxLeaseTTL
	}
	if o.MaxValue <= 0 {
		o.MaxValue = DefaultMaxValue
	}
}

// Deadline is a point in time given either absolutely or relative to the
// moment a request arrives. In JSON it is an RFC 3339 time
// ("2030-01-02T15:04:05Z"), a Go duration ("90s", "5m", "1h30m") or a
// number of milliseconds from now. The zero Deadline means none.
type Deadline struct {
	At time.Time     // absolute, when set
	In time.Duration // relative to now, when At is zero
}

// DeadlineIn returns a Deadline d from now.
func DeadlineIn(d time.Duration) Deadline { return Deadline{In: d} }

// IsZero reports whether no deadline was given.
func (d Deadline) IsZero() bool { return d.At.IsZero() && d.In == 0 }

// MarshalJSON writes an absolute deadline as RFC 3339 and a relative one
// as a Go duration string.
func (d Deadline) MarshalJSON() ([]byte, error) {
	switch {
	case !d.At.IsZero():
		return json.Marshal(d.At.UTC().Format(time.RFC3339Nano))
	case d.In != 0:
		return json.Marshal(d.In.String())
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads the forms described on Deadline; null or "" is none.
func (d *Deadline) UnmarshalJSON(b []byte) error {
	*d = Deadline{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '"' {
		var ms float64
		if err := json.Unmarshal(b, &ms); err != nil {
			return Errorf(CodeInvalid, "deadline: give an RFC 3339 time, a duration such as \"5m\", or milliseconds")
		}
		if ms <= 0 || ms > float64(MaxDeadline/time.Millisecond) {
			return Errorf(CodeInvalid, "deadline: %v ms is not between 1 ms and %s", ms, MaxDeadline)
		}
		d.In = time.Duration(ms * float64(time.Millisecond))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(CodeInvalid, "deadline: not a valid JSON string")
	}
	if s == "" {
		return nil
	}
	v, err := ParseDeadline(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDeadline parses an RFC 3339 time, a Go duration or a number of
// milliseconds, as Deadline's JSON form does.
func ParseDeadline(s string) (Deadline, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Deadline{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return Deadline{At: t.UTC()}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms <= 0 || ms > int64(MaxDeadline/time.Millisecond) {
			return Deadline{}, Errorf(CodeInvalid, "deadline: %d ms is not between 1 ms and %s", ms, MaxDeadline)
		}
		return Deadline{In: time.Duration(ms) * time.Millisecond}, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return Deadline{}, Errorf(CodeInvalid, "deadline %q: give an RFC 3339 time, a duration such as \"5m\", or milliseconds", truncate(s, 64))
	}
	if dur <= 0 {
		return Deadline{}, Errorf(CodeInvalid, "deadline %q: must be in the future", s)
	}
	if dur > MaxDeadline {
		return Deadline{}, Errorf(CodeInvalid, "deadline %q: more than %s away", s, MaxDeadline)
	}
	return Deadline{In: dur}, nil
}

// resolve returns the absolute time of d; zero when d is zero.
func (d Deadline) resolve(what string, now time.Time) (time.Time, error) {
	switch {
	case !d.At.IsZero():
		if !d.At.After(now) {
			return time.Time{}, Errorf(CodeInvalid, "%s %s is not in the future", what, d.At.Format(time.RFC3339))
		}
		if d.At.Sub(now) > MaxDeadline {
			return time.Time{}, Errorf(CodeInvalid, "%s %s is more than %s away", what, d.At.Format(time.RFC3339), MaxDeadline)
		}
		return d.At.UTC(), nil
	case d.In < 0:
		return time.Time{}, Errorf(CodeInvalid, "%s must be in the future", what)
	case d.In > MaxDeadline:
		return time.Time{}, Errorf(CodeInvalid, "%s %s is more than %s away", what, d.In, MaxDeadline)
	case d.In > 0:
		return now.Add(d.In), nil
	}
	return time.Time{}, nil
}

// Duration is a span of time in JSON: a Go duration string ("30m",
// "1h") or a number of milliseconds.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = 0
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '"' {
		var ms float64
		if err := json.Unmarshal(b, &ms); err != nil {
			return Errorf(CodeInvalid, "duration: give a string such as \"30m\" or a number of milliseconds")
		}
		if ms < 0 || ms > float64(MaxDeadline/time.Millisecond) {
			return Errorf(CodeInvalid, "duration: %v ms is not between 0 and %s", ms, MaxDeadline)
		}
		*d = Duration(ms * float64(time.Millisecond))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(CodeInvalid, "duration: not a valid JSON string")
	}
	if s == "" {
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return Errorf(CodeInvalid, "duration %q: give a Go duration such as \"30m\" or \"1h\"", truncate(s, 64))
	}
	*d = Duration(v)
	return nil
}

// StringList is a list of strings that reads from JSON as a list or as
// a single string.
type StringList []string

// UnmarshalJSON accepts "a" as well as ["a","b"]. Anything else is a
// *json.UnmarshalTypeError, so decoders name the field.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	bad := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[StringList]()}
	switch {
	case string(b) == "null":
		*l = nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		*l = nil
		if s != "" {
			*l = StringList{s}
		}
	case len(b) > 0 && b[0] == '[':
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			bad.Value = "a list with an item that is not a string"
			return bad
		}
		*l = list
	default:
		return bad
	}
	return nil
}

// jsonKind names the kind of a JSON value from its first byte.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "array"
	case '{':
		return "object"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// validJSON checks that raw is one JSON value of at most max bytes.
func validJSON(what string, raw json.RawMessage, max int) error {
	if len(raw) > max {
		return Errorf(CodeTooLarge, "%s is %d bytes; the limit is %d bytes", what, len(raw), max)
	}
	if !json.Valid(raw) {
		return Errorf(CodeInvalid, "%s is not valid JSON", what)
	}
	return nil
}

// compactJSON returns raw without insignificant space; raw must be valid.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// checkLine checks a one-line text field of 1 to max bytes (0 to max
// when optional).
func checkLine(what, s string, max int, optional bool) error {
	if s == "" {
		if optional {
			return nil
		}
		return Errorf(CodeInvalid, "%s is empty", what)
	}
	if len(s) > max || !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s: must be valid UTF-8 of at most %d bytes", what, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errorf(CodeInvalid, "%s: must be one line without control characters", what)
		}
	}
	return nil
}

// checkText checks a free text field (comments, reasons): valid UTF-8 of
// at most max bytes, newlines allowed.
func checkText(what, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return Errorf(CodeInvalid, "%s: must be valid UTF-8 of at most %d bytes", what, max)
	}
	return nil
}

// listLimit normalizes a requested list size.
func listLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, Errorf(CodeInvalid, "limit must not be negative")
	case n == 0:
		return DefaultListLimit, nil
	case n > MaxListLimit:
		return MaxListLimit, nil
	}
	return n, nil
}

// mayAct reports whether the caller may act without being an agent: the
// admin always, anyone when authentication is off.
func (s *Service) mayAct(c Caller) bool {
	return c.IsAgent() || c.Admin || s.opts.Open
}

// needCaller refuses a caller that is neither an agent, the admin, nor
// anyone on an open hub.
func (s *Service) needCaller(c Caller, what string) error {
	if !s.mayAct(c) {
		return Errorf(CodeForbidden, "%s needs an agent token", what)
	}
	return nil
}

// ExpireDue settles everything whose time has passed: commands past their
// deadline expire, proposals past theirs are decided, leases past their
// expiry end and channel posts beyond their age are dropped. Run calls it
// every second; tests with an injected clock call it directly.
func (s *Service) ExpireDue(ctx context.Context) error {
	return s.expireDeadlines(ctx)
}

// expireDeadlines settles what has passed its deadline: commands,
// proposals and leases, and channel posts past their age. It reads first
// and writes only when something is due, so an idle hub does not write.
func (s *Service) expireDeadlines(ctx context.Context) error {
	now := s.now()
	var due bool
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		due, err = r.CoordinationDue(ctx, now, now.Add(-s.opts.Coordination.ChannelMaxAge))
		return err
	})
	if err != nil || !due {
		return err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := s.expireCommandsTx(ctx, tx, now); err != nil {
			return err
		}
		if err := s.decideDueProposalsTx(ctx, tx, now); err != nil {
			return err
		}
		if err := s.expireLeasesTx(ctx, tx, now); err != nil {
			return err
		}
		_, err := tx.TrimChannels(ctx, "", 0, now.Add(-s.opts.Coordination.ChannelMaxAge))
		return err
	})
	if err != nil {
		return fmt.Errorf("expire deadlines: %w", err)
	}
	return nil
}

// CoordinationStatus is the coordination part of the hub's status: the
// seed's "full broker state".
type CoordinationStatus struct {
	// Commands are the newest commands, newest first, without their
	// params and results.
	Commands []Command `json:"commands"`
	// PendingCommands counts commands nobody has claimed yet.
	PendingCommands int         `json:"pending_commands"`
	Channels        []Channel   `json:"channels"`
	Signals         []Signal    `json:"signals"`
	Proposals       []Proposal  `json:"proposals"` // open ones
	Leases          []Lease     `json:"leases"`    // live ones
	State           []StateItem `json:"state"`     // the first keys, values left out
}

// statusListLimit bounds each list of CoordinationStatus.
const statusListLimit = 100

// CoordinationStatus returns commands, channels, signals, open
// proposals, live leases and state keys, each list bounded.
func (s *Service) CoordinationStatus(ctx context.Context) (CoordinationStatus, error) {
	now := s.now()
	var st CoordinationStatus
	err := s.store.View(ctx, func(r Reader) error {
		var err error
		if st.Commands, err = r.Commands(ctx, CommandQuery{Limit: statusListLimit}); err != nil {
			return err
		}
		if st.PendingCommands, err = r.CountCommands(ctx, CommandPending); err != nil {
			return err
		}
		if st.Channels, err = r.Channels(ctx); err != nil {
			return err
		}
		if st.Signals, err = r.Signals(ctx); err != nil {
			return err
		}
		if st.Proposals, err = r.Proposals(ctx, ProposalQuery{Status: ProposalOpen, Limit: statusListLimit}); err != nil {
			return err
		}
		if st.Leases, err = r.Leases(ctx, now); err != nil {
			return err
		}
		if st.State, err = r.StateItems(ctx, "", statusListLimit); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return CoordinationStatus{}, fmt.Errorf("coordination status: %w", err)
	}
	for i := range st.Proposals {
		st.Proposals[i].fill()
	}
	// Status shows what happens, not the contents: params, results and
	// values are read through their own calls, which check who asks.
	for i := range st.Commands {
		st.Commands[i].Params, st.Commands[i].Result = nil, nil
	}
	for i := range st.State {
		st.State[i].Value = nil
	}
	st.Commands = nonNil(st.Commands)
	st.Channels = nonNil(st.Channels)
	st.Signals = nonNil(st.Signals)
	st.Proposals = nonNil(st.Proposals)
	st.Leases = nonNil(st.Leases)
	st.State = nonNil(st.State)
	return st, nil
}

// nonNil returns s, or an empty slice for nil, so JSON shows [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// notFound maps ErrNotFound to a not-found error with a clear message and
// leaves other errors alone.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return Errorf(CodeNotFound, format, args...)
	}
	return err
}
