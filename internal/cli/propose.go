package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// newProposeCmd is `parley propose`: put a question to a vote.
func newProposeCmd() *cobra.Command {
	var options, voters []string
	var rule, deadline string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "propose QUESTION",
		Short: "Put a question to a vote",
		Long: `Create a proposal. Voters are agent names, roles (role:<role>) and * for
every agent online now (the default); they are fixed when the proposal is
created. --option adds a choice (default approve and reject). --rule is
majority (floor(n/2)+1 votes, the default), two_thirds (ceil(2n/3)) or
unanimous. The proposal is decided as soon as the outcome is certain, or
at --deadline (no_quorum when too few voted).

With --wait, wait up to that long for the decision. Exit status then: 0
when decided, 3 when still open, 1 on error.`,
		Example: `  parley propose "Ship v2 today?" --voters role:reviewer,alice --rule two_thirds --deadline 1h
  parley propose "Which database?" --option postgres --option sqlite --wait 10m`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := hub.ProposalRequest{Question: args[0], Options: options, Rule: rule}
			for _, v := range voters {
				for part := range strings.SplitSeq(v, ",") {
					if part = strings.TrimSpace(part); part != "" {
						req.Voters = append(req.Voters, part)
					}
				}
			}
			d, err := parseDeadlineFlag(deadline)
			if err != nil {
				return err
			}
			req.Deadline = d
			if err := checkWait("--wait", wait); err != nil {
				return err
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			p, err := s.c.Propose(ctx, req)
			if err != nil {
				return s.explain(err)
			}
			w := cmd.OutOrStdout()
			if wait > 0 {
				if !s.g.json {
					fmt.Fprintf(w, "proposal #%d to %s; waiting for the decision...\n", p.ID, strings.Join(p.Voters, ", "))
				}
				return waitProposal(cmd, s, p.ID, wait)
			}
			if s.g.json {
				return printJSON(w, raw)
			}
			fmt.Fprintf(w, "proposal #%d: %d voters (%s), %s needs %d votes; vote with: parley vote %d %s\n",
				p.ID, len(p.Voters), strings.Join(p.Voters, ", "), p.Rule, p.Threshold, p.ID, p.Options[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&options, "option", nil, "a choice (repeatable; default approve and reject)")
	f.StringArrayVar(&voters, "voters", nil, "voters: names, role:<role>, * (comma list, repeatable; default every agent online)")
	f.StringVar(&rule, "rule", "", "majority, two_thirds or unanimous (default majority)")
	f.StringVar(&deadline, "deadline", "", "decide at this time: a duration (1h) or an RFC 3339 time")
	f.DurationVar(&wait, "wait", 0, "wait this long for the decision (at most 10m)")
	return cmd
}

// waitProposal waits for a decision and prints the proposal; exit 3 when
// it is still open.
func waitProposal(cmd *cobra.Command, s *session, id int64, wait time.Duration) error {
	var raw json.RawMessage
	ctx, cancel := waitContext(cmd, wait)
	defer cancel()
	p, err := s.c.Proposal(s.capture(ctx, &raw), id, wait)
	if err != nil {
		return s.explain(err)
	}
	if s.g.json {
		if err := printJSON(cmd.OutOrStdout(), raw); err != nil {
			return err
		}
	} else {
		printProposal(cmd.OutOrStdout(), time.Now(), p)
	}
	if p.Status != hub.ProposalDecided {
		return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("proposal #%d still open after %s", p.ID, wait)}
	}
	return nil
}

// printProposal prints a proposal with its tally and votes.
func printProposal(w io.Writer, now time.Time, p hub.Proposal) {
	fmt.Fprintf(w, "#%d %s\n", p.ID, oneLine(p.Question, 200))
	fmt.Fprintf(w, "  by %s %s; %s of %d voters, %d needed", p.From, ago(now, p.CreatedAt), p.Rule, len(p.Voters), p.Threshold)
	if !p.Deadline.IsZero() {
		fmt.Fprintf(w, "; deadline %s", p.Deadline.Local().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	tally := make([]string, len(p.Options))
	for i, o := range p.Options {
		tally[i] = fmt.Sprintf("%s %d", clean(o, false), p.Tally[o])
	}
	fmt.Fprintf(w, "  tally: %s\n", strings.Join(tally, ", "))
	for _, v := range p.Votes {
		line := fmt.Sprintf("  %s: %s", v.Voter, clean(v.Choice, false))
		if v.Comment != "" {
			line += " (" + oneLine(v.Comment, 120) + ")"
		}
		fmt.Fprintln(w, line)
	}
	if p.Status == hub.ProposalDecided {
		fmt.Fprintf(w, "  DECIDED: %s (%s)\n", clean(p.Outcome, false), clean(p.Reason, false))
	} else {
		var missing []string
		voted := map[string]bool{}
		for _, v := range p.Votes {
			voted[v.Voter] = true
		}
		for _, v := range p.Voters {
			if !voted[v] {
				missing = append(missing, v)
			}
		}
		fmt.Fprintf(w, "  OPEN; waiting for %s\n", strings.Join(missing, ", "))
	}
}

func newVoteCmd() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "vote ID CHOICE",
		Short: "Vote on a proposal",
		Long: `Cast this agent's vote on a proposal, or change it while the proposal is
open. Only its voters may vote.`,
		Example: `  parley vote 3 approve --comment "tests pass"`,
		Args:    argsRange(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("proposal", args[0])
			if err != nil {
				return err
			}
			return call(cmd, needAgent, func(ctx context.Context, c *client.Client) (hub.Proposal, error) {
				return c.Vote(ctx, id, hub.VoteRequest{Choice: args[1], Comment: comment})
			}, func(w io.Writer, p hub.Proposal) error {
				printProposal(w, time.Now(), p)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "a comment with the vote")
	return cmd
}

func newProposalCmd() *cobra.Command {
	var wait time.Duration
	var status string
	cmd := &cobra.Command{
		Use:     "proposal [ID]",
		Aliases: []string{"proposals"},
		Short:   "Show a proposal, or list proposals",
		Long: `With ID, show a proposal with its tally and votes; --wait waits up to that
long for its decision (exit 3 when still open). Without ID, list proposals
newest first; --status open or decided filters.`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkWait("--wait", wait); err != nil {
				return err
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				id, err := parseIDOf("proposal", args[0])
				if err != nil {
					return err
				}
				if wait > 0 {
					return waitProposal(cmd, s, id, wait)
				}
				var raw json.RawMessage
				ctx, cancel := s.context(cmd, &raw)
				defer cancel()
				p, err := s.c.Proposal(ctx, id, 0)
				if err != nil {
					return s.explain(err)
				}
				if s.g.json {
					return printJSON(w, raw)
				}
				printProposal(w, time.Now(), p)
				return nil
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			ps, err := s.c.Proposals(ctx, hub.ProposalQuery{Status: status})
			if err != nil {
				return s.explain(err)
			}
			if s.g.json {
				return printJSON(w, raw)
			}
			if len(ps) == 0 {
				fmt.Fprintln(w, "no proposals")
				return nil
			}
			now := time.Now()
			t := newTable(w)
			fmt.Fprintln(t, "ID\tQUESTION\tBY\tRULE\tVOTES\tSTATUS\tCREATED")
			for _, p := range ps {
				st := p.Status
				if p.Outcome != "" {
					st += ": " + p.Outcome
				}
				fmt.Fprintf(t, "#%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", p.ID, oneLine(p.Question, 50), p.From, p.Rule, len(p.Votes), len(p.Voters), clean(st, false), ago(now, p.CreatedAt))
			}
			return t.Flush()
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the decision (at most 10m)")
	cmd.Flags().StringVar(&status, "status", "", "list only open or decided proposals")
	return cmd
}
