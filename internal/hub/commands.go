package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Command states. Pending and claimed are live; the others are final.
const (
	CommandPending = "pending"
	CommandClaimed = "claimed"
	CommandDone    = "done"
	CommandFailed  = "failed"
	CommandExpired = "expired"
)

// Limits on command fields.
const (
	maxActionLen = 128
	maxErrorLen  = 4096
)

// Command is an order from one agent to another agent or to a role. One
// agent claims it, works on it and acknowledges it with a result.
type Command struct {
	ID   int64  `json:"id"`
	From string `json:"from"`
	// Target is an agent name, or "role:<role>" for any agent of a role.
	Target string          `json:"target"`
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Status string          `json:"status"`
	// Result is what the claimer reported with its acknowledgement.
	Result json.RawMessage `json:"result,omitempty"`
	// Error says why a command failed or expired.
	Error      string    `json:"error,omitempty"`
	ClaimedBy  string    `json:"claimed_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ClaimedAt  time.Time `json:"claimed_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Deadline, when set, is when a command that is not finished expires.
	Deadline time.Time `json:"deadline,omitzero"`

	FromID int64 `json:"-"`
	// TargetID is the agent addressed by name; 0 for a role.
	TargetID int64 `json:"-"`
	// TargetRole is the role addressed; empty for a name.
	TargetRole  string `json:"-"`
	ClaimedByID int64  `json:"-"`
}

// Finished reports whether the command reached a final state.
func (c Command) Finished() bool {
	return c.Status != CommandPending && c.Status != CommandClaimed
}

// CommandRequest is a command to send. The sender is the Caller.
type CommandRequest struct {
	// From is accepted for the seed's API, where it names the sender; the
	// front end resolves the caller from it, and the service ignores it.
	From string `json:"from,omitempty"`
	// Target is an agent name, a role, or "role:<role>". A bare word is
	// an agent when one has that name, else a role that some agent has.
	Target string `json:"target"`
	Action string `json:"action"`
	// Params is a JSON object; absent means {}.
	Params   json.RawMessage `json:"params,omitempty"`
	Deadline Deadline        `json:"deadline,omitzero"`
}

// AckRequest finishes a command.
type AckRequest struct {
	// Result is any JSON the claimer reports.
	Result json.RawMessage `json:"result,omitempty"`
	// Status is "done" (the default) or "failed"; an Error alone also
	// means failed.
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// CommandQuery selects commands, for the Store. Zero fields match all.
type CommandQuery struct {
	// ForAgentID selects commands addressed to that agent by name, claimed
	// by it, or, when ForRole is set, pending for that role.
	ForAgentID int64
	ForRole    string
	FromID     int64
	Status     string
	Before     int64 // only IDs below
	Limit      int
}

// CommandListOptions select what ListCommands returns.
type CommandListOptions struct {
	// For lists commands for that agent: addressed to it, claimed by it,
	// or pending for its role.
	For string
	// From lists commands that agent sent.
	From string
	// Status filters by state.
	Status string
	Before int64
	Limit  int
}

// SendCommand stores a command for its target and returns it pending.
func (s *Service) SendCommand(ctx context.Context, c Caller, req CommandRequest) (Command, error) {
	if !c.IsAgent() {
		return Command{}, Errorf(CodeForbidden, "sending a command needs an agent (give from, or an agent token)")
	}
	if err := checkLine("action", req.Action, maxActionLen, false); err != nil {
		return Command{}, err
	}
	if strings.ContainsAny(req.Action, " \t") {
		return Command{}, Errorf(CodeInvalid, "action %q: must be one word without spaces", truncate(req.Action, 80))
	}
	if isNull(req.Params) {
		req.Params = json.RawMessage("{}")
	}
	if err := validJSON("params", req.Params, s.opts.Coordination.MaxValue); err != nil {
		return Command{}, err
	}
	req.Params = compactJSON(req.Params)
	if req.Params[0] != '{' {
		return Command{}, Errorf(CodeInvalid, "params: must be a JSON object, such as {\"port\":7400}")
	}
	now := s.now()
	deadline, err := req.Deadline.resolve("deadline", now)
	if err != nil {
		return Command{}, err
	}
	var cmd Command
	err = s.store.Update(ctx, func(tx Tx) error {
		sender, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return fmt.Errorf("sender: %w", err)
		}
		cmd = Command{
			From: sender.Name, FromID: sender.ID, Action: req.Action, Params: req.Params,
			Status: CommandPending, CreatedAt: now, Deadline: deadline,
		}
		targets, err := s.resolveCommandTarget(ctx, tx, req.Target, &cmd)
		if err != nil {
			return err
		}
		if cmd, err = tx.InsertCommand(ctx, cmd); err != nil {
			return err
		}
		ev := s.event(EventCommandSent, sender.Name, commandSubject(cmd.ID), targets, commandEventData(cmd))
		return appendEvents(ctx, tx, ev)
	})
	if err != nil {
		return Command{}, fmt.Errorf("send command from %q: %w", c.Name, err)
	}
	return cmd, nil
}

// resolveCommandTarget fills the target fields of cmd and returns the
// names of the agents that may claim it.
func (s *Service) resolveCommandTarget(ctx context.Context, r Reader, target string, cmd *Command) ([]string, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return nil, Errorf(CodeInvalid, "target is empty: give an agent name, a role or role:<role>")
	}
	if target == Broadcast {
		return nil, Errorf(CodeInvalid, "target %q: a command goes to one agent; give a name or a role", target)
	}
	explicitRole := strings.HasPrefix(strings.ToLower(target), RolePrefix)
	what := "target"
	if explicitRole {
		target = target[len(RolePrefix):]
		what = "target role"
	}
	name, err := NormalizeName(what, target)
	if err != nil {
		return nil, err
	}
	if !explicitRole {
		a, err := r.AgentByName(ctx, name)
		if err == nil {
			cmd.Target, cmd.TargetID = a.Name, a.ID
			return []string{a.Name}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	agents, err := r.Agents(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(agents) == 0 && !explicitRole {
		return nil, Errorf(CodeNotFound, "target %q: no agent has that name or role (send to role:%s to wait for an agent of that role)", name, name)
	}
	cmd.Target, cmd.TargetRole = RolePrefix+name, name
	names := make([]string, 0, len(agents))
	for _, a := range agents {
		names = append(names, a.Name)
	}
	return names, nil
}

// WaitCommand claims the oldest pending command for the caller,
// addressed to it or to its role, waiting up to timeout for one to
// arrive. It returns false when none came in time. A role command goes
// to exactly one agent: the claim happens inside one write transaction.
func (s *Service) WaitCommand(ctx context.Context, c Caller, timeout time.Duration) (Command, bool, error) {
	claim, p, err := s.StartWaitCommand(ctx, c, timeout)
	claim, err = p.wait(ctx, claim, err)
	return claim.Command, claim.Claimed, err
}

// CommandClaim is what a command wait found: the command it claimed, if
// any.
type CommandClaim struct {
	Command Command
	Claimed bool
}

// StartWaitCommand is the first half of WaitCommand: it tries to claim
// a command once, and hands back the rest of the wait as a Pending when
// there was none and timeout is not 0.
func (s *Service) StartWaitCommand(ctx context.Context, c Caller, timeout time.Duration) (CommandClaim, *Pending[CommandClaim], error) {
	if !c.IsAgent() {
		return CommandClaim{}, nil, Errorf(CodeForbidden, "waiting for commands needs an agent")
	}
	timeout, err := clampWait(timeout)
	if err != nil {
		return CommandClaim{}, nil, err
	}
	f := Filter{Kinds: []string{EventCommandSent, EventAgentRegistered}, Agents: []string{c.Name}}
	what := fmt.Sprintf("wait for commands of %q", c.Name)
	return startPending(ctx, s.bus, f, timeout, s.Connect(ctx, c.Name), what, func(ctx context.Context) (CommandClaim, bool, error) {
		cmd, claimed, err := s.claimCommand(ctx, c)
		return CommandClaim{Command: cmd, Claimed: claimed}, claimed, err
	})
}

// ClaimCommand claims the oldest pending command for the caller without
// waiting; it returns false when there is none.
func (s *Service) ClaimCommand(ctx context.Context, c Caller) (Command, bool, error) {
	return s.WaitCommand(ctx, c, 0)
}

// claimCommand looks for a claimable command in a read, then claims it
// in a write, so an idle waiter costs no write transaction.
func (s *Service) claimCommand(ctx context.Context, c Caller) (Command, bool, error) {
	now := s.now()
	var found bool
	err := s.store.View(ctx, func(r Reader) error {
		a, err := r.AgentByID(ctx, c.AgentID)
		if err != nil {
			return notFound(err, "agent %q is no longer registered", c.Name)
		}
		_, err = r.NextCommand(ctx, a.ID, a.Role, now)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return Command{}, false, err
	}
	var cmd Command
	var claimed bool
	err = s.store.Update(ctx, func(tx Tx) error {
		claimed = false
		a, err := tx.AgentByID(ctx, c.AgentID)
		if err != nil {
			return err
		}
		cmd, err = tx.NextCommand(ctx, a.ID, a.Role, now)
		if errors.Is(err, ErrNotFound) {
			return nil // another claimer was first
		}
		if err != nil {
			return err
		}
		cmd.Status, cmd.ClaimedBy, cmd.ClaimedByID, cmd.ClaimedAt = CommandClaimed, a.Name, a.ID, now
		if err := tx.UpdateCommand(ctx, cmd); err != nil {
			return err
		}
		claimed = true
		ev := s.event(EventCommandClaimed, a.Name, commandSubject(cmd.ID), commandTargets(cmd), commandEventData(cmd))
		return appendEvents(ctx, tx, ev)
	})
	if err != nil {
		return Command{}, false, err
	}
	return cmd, claimed, nil
}

// AckCommand finishes a command with a result: done, or failed when the
// request says so. The claimer acknowledges; an agent the command is
// addressed to may also acknowledge it while pending. The admin, and
// anyone on an open hub who names no agent, may acknowledge any command.
func (s *Service) AckCommand(ctx context.Context, c Caller, id int64, req AckRequest) (Command, error) {
	if err := s.needCaller(c, "acknowledging a command"); err != nil {
		return Command{}, err
	}
	status := req.Status
	switch status {
	case "":
		status = CommandDone
		if req.Error != "" {
			status = CommandFailed
		}
	case CommandDone, "ok", "success":
		status = CommandDone
	case CommandFailed, "error":
		status = CommandFailed
	default:
		return Command{}, Errorf(CodeInvalid, "status %q: must be done or failed", req.Status)
	}
	if err := checkText("error", req.Error, maxErrorLen); err != nil {
		return Command{}, err
	}
	if !isNull(req.Result) {
		if err := validJSON("result", req.Result, s.opts.Coordination.MaxValue); err != nil {
			return Command{}, err
		}
		req.Result = compactJSON(req.Result)
	} else {
		req.Result = nil
	}
	now := s.now()
	var cmd Command
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		cmd, err = tx.Command(ctx, id)
		if err != nil {
			return notFound(err, "command %d not found", id)
		}
		if cmd.Finished() {
			return Errorf(CodeConflict, "command %d is already %s", id, cmd.Status)
		}
		if !cmd.Deadline.IsZero() && !now.Before(cmd.Deadline) {
			return Errorf(CodeConflict, "command %d passed its deadline %s", id, cmd.Deadline.Format(time.RFC3339))
		}
		actor := c.Name
		if c.IsAgent() {
			a, err := tx.AgentByID(ctx, c.AgentID)
			if err != nil {
				return err
			}
			switch {
			case cmd.Status == CommandClaimed && cmd.ClaimedByID == a.ID:
			case cmd.Status == CommandPending && (cmd.TargetID == a.ID || cmd.TargetRole != "" && cmd.TargetRole == a.Role):
				cmd.ClaimedBy, cmd.ClaimedByID, cmd.ClaimedAt = a.Name, a.ID, now
			case c.Admin:
			case cmd.Status == CommandClaimed:
				return Errorf(CodeForbidden, "command %d is claimed by %q; only it can acknowledge", id, cmd.ClaimedBy)
			default:
				return Errorf(CodeForbidden, "command %d is for %s, not %q", id, cmd.Target, a.Name)
			}
		}
		cmd.Status, cmd.Result, cmd.Error, cmd.FinishedAt = status, req.Result, req.Error, now
		if err := tx.UpdateCommand(ctx, cmd); err != nil {
			return err
		}
		kind := EventCommandDone
		if status == CommandFailed {
			kind = EventCommandFailed
		}
		ev := s.event(kind, actor, commandSubject(cmd.ID), commandTargets(cmd), commandEventData(cmd))
		return appendEvents(ctx, tx, ev)
	})
	if err != nil {
		return Command{}, fmt.Errorf("ack command %d: %w", id, err)
	}
	return cmd, nil
}

// GetCommand returns a command. With wait > 0 it blocks until the
// command is finished (done, failed or expired) or wait passes, so the
// sender can wait for the result.
func (s *Service) GetCommand(ctx context.Context, c Caller, id int64, wait time.Duration) (Command, error) {
	cmd, p, err := s.StartGetCommand(ctx, c, id, wait)
	return p.wait(ctx, cmd, err)
}

// StartGetCommand is the first half of GetCommand: it reads the command
// once, and hands back the rest of the wait as a Pending when it is not
// finished and wait is not 0.
func (s *Service) StartGetCommand(ctx context.Context, c Caller, id int64, wait time.Duration) (Command, *Pending[Command], error) {
	if err := s.needCaller(c, "reading a command"); err != nil {
		return Command{}, nil, err
	}
	wait, err := clampWait(wait)
	if err != nil {
		return Command{}, nil, err
	}
	read := func(ctx context.Context) (Command, bool, error) {
		var cmd Command
		err := s.store.View(ctx, func(r Reader) error {
			var err error
			if cmd, err = r.Command(ctx, id); err != nil {
				return notFound(err, "command %d not found", id)
			}
			return s.mayReadCommand(ctx, r, c, cmd)
		})
		return cmd, err == nil && cmd.Finished(), err
	}
	what := fmt.Sprintf("get command %d", id)
	if wait == 0 { // no subscription for a plain read
		cmd, _, err := read(ctx)
		if err != nil {
			return Command{}, nil, fmt.Errorf("%s: %w", what, err)
		}
		return cmd, nil, nil
	}
	f := Filter{Kinds: []string{"command"}, Subjects: []string{commandSubject(id)}}
	return startPending(ctx, s.bus, f, wait, noRelease, what, read)
}

// mayReadCommand lets the sender, the target, the claimer, agents of the
// target role and the admin read a command; anyone on an open hub.
func (s *Service) mayReadCommand(ctx context.Context, r Reader, c Caller, cmd Command) error {
	if c.Admin || s.opts.Open {
		return nil
	}
	id := c.AgentID
	if id == cmd.FromID || id == cmd.TargetID || id == cmd.ClaimedByID {
		return nil
	}
	if cmd.TargetRole != "" {
		if a, err := r.AgentByID(ctx, id); err == nil && a.Role == cmd.TargetRole {
			return nil
		}
	}
	return Errorf(CodeNotFound, "command %d not found", cmd.ID)
}

// ListCommands lists commands newest first: for an agent (addressed to
// it, claimed by it, or pending for its role), sent by an agent, or all
// of them. Agents may list their own; the admin, or anyone on an open
// hub, any.
func (s *Service) ListCommands(ctx context.Context, c Caller, opts CommandListOptions) ([]Command, error) {
	if err := s.needCaller(c, "listing commands"); err != nil {
		return nil, err
	}
	limit, err := listLimit(opts.Limit)
	if err != nil {
		return nil, err
	}
	if opts.Before < 0 {
		return nil, Errorf(CodeInvalid, "before must not be negative")
	}
	switch opts.Status {
	case "", CommandPending, CommandClaimed, CommandDone, CommandFailed, CommandExpired:
	default:
		return nil, Errorf(CodeInvalid, "status %q: must be pending, claimed, done, failed or expired", opts.Status)
	}
	if opts.For, err = NormalizeOptionalName("agent", opts.For); err != nil {
		return nil, err
	}
	if opts.From, err = NormalizeOptionalName("from", opts.From); err != nil {
		return nil, err
	}
	privileged := c.Admin || s.opts.Open
	if !privileged && (opts.For == "" && opts.From == "" || opts.For != "" && opts.For != c.Name || opts.From != "" && opts.From != c.Name) {
		return nil, Errorf(CodeForbidden, "agents may list only their own commands (for or from %q)", c.Name)
	}
	var cmds []Command
	err = s.store.View(ctx, func(r Reader) error {
		q := CommandQuery{Status: opts.Status, Before: opts.Before, Limit: limit}
		if opts.For != "" {
			a, err := r.AgentByName(ctx, opts.For)
			if err != nil {
				return notFound(err, "agent %q is not registered", opts.For)
			}
			q.ForAgentID, q.ForRole = a.ID, a.Role
		}
		if opts.From != "" {
			a, err := r.AgentByName(ctx, opts.From)
			if err != nil {
				return notFound(err, "agent %q is not registered", opts.From)
			}
			q.FromID = a.ID
		}
		var err error
		cmds, err = r.Commands(ctx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list commands: %w", err)
	}
	return nonNil(cmds), nil
}

// expireCommandsTx expires commands past their deadline.
func (s *Service) expireCommandsTx(ctx context.Context, tx Tx, now time.Time) error {
	for {
		due, err := tx.DueCommands(ctx, now, 500)
		if err != nil || len(due) == 0 {
			return err
		}
		for _, cmd := range due {
			cmd.Status, cmd.FinishedAt = CommandExpired, now
			cmd.Error = "deadline " + cmd.Deadline.Format(time.RFC3339) + " passed before the command was finished"
			if err := tx.UpdateCommand(ctx, cmd); err != nil {
				return err
			}
			targets := commandTargets(cmd)
			if cmd.TargetID == 0 && cmd.ClaimedByID == 0 {
				agents, err := tx.Agents(ctx, cmd.TargetRole)
				if err != nil {
					return err
				}
				for _, a := range agents {
					targets = append(targets, a.Name)
				}
			}
			ev := s.event(EventCommandExpired, "", commandSubject(cmd.ID), targets, commandEventData(cmd))
			if err := appendEvents(ctx, tx, ev); err != nil {
				return err
			}
		}
		if len(due) < 500 {
			return nil
		}
	}
}

// failCommandsOfTx fails the commands only a leaving agent could finish:
// those addressed to it by name and still pending, and those it claimed.
// Their senders, who may be waiting for a result, get one now instead of
// at the deadline. Commands for its role stay pending for another agent
// of the role.
func (s *Service) failCommandsOfTx(ctx context.Context, tx Tx, a Agent, now time.Time) error {
	const page = 500
	var before int64
	for {
		cmds, err := tx.Commands(ctx, CommandQuery{ForAgentID: a.ID, Before: before, Limit: page})
		if err != nil {
			return err
		}
		for _, cmd := range cmds {
			before = cmd.ID // newest first
			pending := cmd.Status == CommandPending && cmd.TargetID == a.ID
			claimed := cmd.Status == CommandClaimed && cmd.ClaimedByID == a.ID
			if !pending && !claimed {
				continue
			}
			cmd.Status, cmd.FinishedAt = CommandFailed, now
			cmd.Error = fmt.Sprintf("agent %q left the hub before finishing the command", a.Name)
			if err := tx.UpdateCommand(ctx, cmd); err != nil {
				return err
			}
			ev := s.event(EventCommandFailed, a.Name, commandSubject(cmd.ID), commandTargets(cmd), commandEventData(cmd))
			if err := appendEvents(ctx, tx, ev); err != nil {
				return err
			}
		}
		if len(cmds) < page {
			return nil
		}
	}
}

func commandSubject(id int64) string { return strconv.FormatInt(id, 10) }

// commandTargets are the agents a change of cmd concerns: its sender,
// its named target and its claimer.
func commandTargets(cmd Command) []string {
	ts := []string{cmd.From}
	if cmd.TargetID != 0 && cmd.Target != cmd.From {
		ts = append(ts, cmd.Target)
	}
	if cmd.ClaimedBy != "" && !contains(ts, cmd.ClaimedBy) {
		ts = append(ts, cmd.ClaimedBy)
	}
	return ts
}

// commandEventData is a command for an event, its params and result left
// out when large.
func commandEventData(cmd Command) Command {
	if len(cmd.Params) > eventPreviewSize {
		cmd.Params = nil
	}
	if len(cmd.Result) > eventPreviewSize {
		cmd.Result = nil
	}
	return cmd
}
