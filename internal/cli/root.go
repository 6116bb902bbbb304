// Package cli is Parley's command line: the hub (serve), the MCP bridge
// (mcp) and the client commands, each in a file of its own.
package cli

import (
	"github.com/spf13/cobra"
)

// NewRoot returns the parley command with every subcommand; version is
// what parley --version prints.
func NewRoot(version string) *cobra.Command {
	root := &cobra.Command{
		Use:           "parley",
		Short:         "Parley lets AI coding agents find each other, talk and coordinate",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addGlobalFlags(root) // --url --as --json --data --secret --ca, in flags.go
	// Each subcommand lives in its own file; add one line per command.
	root.AddCommand(
		newServeCmd(),
		newMCPCmd(),
		newRegisterCmd(),
		newWhoamiCmd(),
		newPeersCmd(),
		newSendCmd(),
		newInboxCmd(),
		newWaitCmd(),
		newAckCmd(),
		newShowCmd(),
		newHistoryCmd(),
		newSearchCmd(),
		newRenameCmd(),
		newStatusCmd(),
		newCmdCmd(),
		newChannelCmd(),
		newSignalCmd(),
		newProposeCmd(),
		newVoteCmd(),
		newProposalCmd(),
		newLeaseCmd(),
		newGuardCmd(),
		newStateCmd(),
		newBenchCmd(),
		newDashboardCmd(),
		newTokenCmd(),
		newAdminCmd(),
	)
	return root
}
