package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit statuses of parley guard.
const (
	// ExitGuardConflict: a path is under another agent's exclusive lease.
	ExitGuardConflict = 1
	// ExitGuardError: the check itself failed (no hub, no git).
	ExitGuardError = 2
)

// hookScript is the pre-commit hook guard --install writes.
const hookScript = `#!/bin/sh
# Installed by "parley guard --install": refuse a commit that touches files
# another agent has reserved with "parley lease reserve". Skip it once with
# git commit --no-verify.
exec parley guard
`

func newGuardCmd() *cobra.Command {
	var install bool
	cmd := &cobra.Command{
		Use:   "guard [PATH...]",
		Short: "Refuse paths other agents have reserved (a git pre-commit hook)",
		Long: `Check paths against the hub's live leases: any path under another agent's
exclusive lease is listed with its holder, pattern and expiry. Without
PATH, the files staged for commit (git diff --cached --name-only). Paths
are relative to the repository root, as leases are.

Exit status: 0 when no path is reserved by another agent; 1 when one is
(so that, as a pre-commit hook, it stops the commit); 2 when the check
could not run (no hub, no git). --install adds it as this repository's
pre-commit hook.`,
		Example: `  parley guard --install
  parley guard src/api/handler.go docs/README.md`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if install {
				if len(args) > 0 {
					return errors.New("guard --install takes no paths")
				}
				return installHook(cmd)
			}
			paths := args
			if len(paths) == 0 {
				staged, err := stagedPaths(cmd)
				if err != nil {
					return &ExitError{Code: ExitGuardError, Err: err}
				}
				paths = staged
			}
			if len(paths) == 0 {
				return nil
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return &ExitError{Code: ExitGuardError, Err: err}
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			hits, err := s.c.CheckPaths(ctx, paths)
			if err != nil {
				return &ExitError{Code: ExitGuardError, Err: fmt.Errorf("guard: %w (skip the check with git commit --no-verify)", s.explain(err))}
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				if err := printJSON(w, raw); err != nil {
					return err
				}
			} else {
				now := time.Now()
				for _, h := range hits {
					line := fmt.Sprintf("%s: reserved by %s (pattern %s, lease #%d, expires %s %s)",
						clean(h.Path, false), h.Lease.Holder, clean(h.Pattern, false), h.Lease.ID,
						h.Lease.ExpiresAt.Local().Format(time.RFC3339), until(now, h.Lease.ExpiresAt))
					if h.Lease.Reason != "" {
						line += ": " + oneLine(h.Lease.Reason, 120)
					}
					fmt.Fprintln(w, line)
				}
			}
			if len(hits) > 0 {
				return &ExitError{Code: ExitGuardConflict, Err: fmt.Errorf("guard: %s of %d reserved by other agents; wait for the lease, ask its holder, or commit with --no-verify",
					plural(len(hits), "path"), len(paths))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "install as the git pre-commit hook of the repository here")
	return cmd
}

// stagedPaths lists the files staged for commit, relative to the root.
func stagedPaths(cmd *cobra.Command) ([]string, error) {
	out, err := git(cmd, "diff", "--cached", "--name-only", "-z")
	if err != nil {
		return nil, err
	}
	var paths []string
	for p := range bytes.SplitSeq(out, []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	return paths, nil
}

// git runs git in the working directory and returns its standard output.
func git(cmd *cobra.Command, args ...string) ([]byte, error) {
	c := exec.CommandContext(cmd.Context(), "git", args...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out, nil
}

// installHook writes the pre-commit hook, unless another hook is there.
func installHook(cmd *cobra.Command) error {
	out, err := git(cmd, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return err
	}
	dir := strings.TrimSpace(string(out))
	path := filepath.Join(dir, "pre-commit")
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Contains(old, []byte("parley guard")) {
			fmt.Fprintf(cmd.OutOrStdout(), "%s already runs parley guard\n", path)
			return nil
		}
		return fmt.Errorf("guard --install: %s exists; add the line \"parley guard || exit 1\" to it yourself", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(hookScript), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "installed %s\n", path)
	return nil
}
