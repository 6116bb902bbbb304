package mcpserver

import (
	"fmt"
	"slices"
	"strings"
)

// Tool groups, in the order the instructions present them. Every tool
// belongs to one group; a profile names tools, groups, "core" or "all".
var toolGroups = []struct {
	name  string
	tools []string
}{
	{"identity", []string{"register", "whoami", "rename", "set_status"}},
	{"discovery", []string{"peers", "hub_status"}},
	{"messages", []string{"send", "read", "wait", "ack", "history", "search", "share_file"}},
	{"commands", []string{"command_send", "command_next", "command_complete", "command_status"}},
	{"channels", []string{"channel_post", "channel_read"}},
	{"signals", []string{"signal_emit", "signal_wait"}},
	{"votes", []string{"propose", "vote", "proposal_status"}},
	{"leases", []string{"reserve", "release"}},
	{"state", []string{"state_get", "state_set"}},
}

// coreTools is the "core" profile: what most sessions need to talk, hand
// work over and synchronize, at a fraction of the full set's context.
var coreTools = []string{
	"register", "whoami", "set_status", "peers",
	"send", "read", "wait", "ack",
	"command_send", "command_next", "command_complete",
	"signal_emit", "signal_wait",
}

// Profile names accepted by ParseTools besides tool and group names.
const (
	ProfileAll  = "all"
	ProfileCore = "core"
)

// AllTools returns every tool name, in group order.
func AllTools() []string {
	var all []string
	for _, g := range toolGroups {
		all = append(all, g.tools...)
	}
	return all
}

// ParseTools turns a profile into the set of enabled tools: "" or "all"
// is every tool, "core" the core set, otherwise a comma list of tool
// names, group names (identity, discovery, messages, commands, channels,
// signals, votes, leases, state) and "core". An unknown name is an error
// that lists the valid ones.
func ParseTools(spec string) (map[string]bool, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = ProfileAll
	}
	all := AllTools()
	set := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		switch {
		case item == "":
			continue
		case item == ProfileAll:
			for _, t := range all {
				set[t] = true
			}
			continue
		case item == ProfileCore:
			for _, t := range coreTools {
				set[t] = true
			}
			continue
		case slices.Contains(all, item):
			set[item] = true
			continue
		}
		found := false
		for _, g := range toolGroups {
			if g.name == item {
				found = true
				for _, t := range g.tools {
					set[t] = true
				}
			}
		}
		if !found {
			var groups []string
			for _, g := range toolGroups {
				groups = append(groups, g.name)
			}
			return nil, fmt.Errorf("tools: unknown tool or group %q; use all, core, a group (%s) or a tool (%s)",
				item, strings.Join(groups, ", "), strings.Join(all, ", "))
		}
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("tools: %q enables no tool", spec)
	}
	return set, nil
}
