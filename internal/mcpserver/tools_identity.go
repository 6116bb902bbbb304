package mcpserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

type registerIn struct {
	Name         string   `json:"name,omitempty" jsonschema:"agent name to use: 1-64 of a-z 0-9 . _ -; omit to keep the current name or get a free one"`
	Role         string   `json:"role,omitempty" jsonschema:"role others can address as role:<role>, e.g. backend, frontend, reviewer"`
	Capabilities []string `json:"capabilities,omitempty" jsonschema:"what this agent can do, e.g. [\"go\",\"tests\"]"`
	Description  string   `json:"description,omitempty" jsonschema:"one line on what this agent works on"`
}

type renameIn struct {
	Name string `json:"name" jsonschema:"the new name: 1-64 of a-z 0-9 . _ -"`
}

type setStatusIn struct {
	Status *string `json:"status,omitempty" jsonschema:"short status text others see, e.g. reviewing PR 12; empty clears it"`
	State  string  `json:"state,omitempty" jsonschema:"online, busy or idle"`
}

type peersIn struct {
	Role           string `json:"role,omitempty" jsonschema:"only agents with this role"`
	IncludeOffline bool   `json:"include_offline,omitempty" jsonschema:"also list agents that are registered but offline"`
}

type empty struct{}

type agentOut struct {
	Agent     hub.Agent `json:"agent"`
	Reclaimed bool      `json:"reclaimed,omitempty"`
	Delivered int       `json:"delivered,omitempty"`
}

type peersOut struct {
	Peers []hub.Peer `json:"peers"`
	Self  string     `json:"self,omitempty"`
}

func (s *server) addIdentityTools() {
	addTool(s, &mcp.Tool{
		Name: "register",
		Description: "Join Parley as an agent, or change your name, role, capabilities or description. " +
			"Use it when the user says who this session is (\"you are the backend\", \"connect as reviewer\"). " +
			"Sessions are usually registered already: call whoami first.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in registerIn) (string, any, error) {
		name, err := hub.NormalizeOptionalName("name", in.Name)
		if err != nil {
			return "", nil, err
		}
		var b strings.Builder
		if cur := s.b.Name(); cur != "" && name != "" && name != cur {
			a, err := s.b.Rename(ctx, name)
			if err != nil {
				return "", nil, err
			}
			fmt.Fprintf(&b, "Renamed %s to %s; mail to %s forwards to you for a while.\n", cur, a.Name, cur)
			if in.Role == "" && in.Capabilities == nil && in.Description == "" {
				return b.String(), agentOut{Agent: a}, nil
			}
			name = a.Name
		}
		reg, err := s.b.Register(ctx, hub.RegisterRequest{
			Name: name, Role: in.Role, Capabilities: in.Capabilities,
			Description: in.Description, Client: clientName(req),
		})
		if err != nil {
			return "", nil, err
		}
		a := reg.Agent
		verb := "Registered"
		if reg.Reclaimed {
			verb = "Updated"
		}
		fmt.Fprintf(&b, "%s as %s", verb, a.Name)
		if a.Role != "" {
			fmt.Fprintf(&b, " with role %s (others reach you as role:%s)", a.Role, a.Role)
		}
		b.WriteString(".\n")
		if reg.Delivered > 0 {
			fmt.Fprintf(&b, "%d message(s) sent to this name earlier are waiting: call read.\n", reg.Delivered)
		}
		return b.String(), agentOut{Agent: a, Reclaimed: reg.Reclaimed, Delivered: reg.Delivered}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "whoami",
		Description: "Show this session's agent: name, role, status and unread count.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ empty) (string, any, error) {
		p, err := s.b.Whoami(ctx)
		if err != nil {
			return "", nil, err
		}
		return "You are " + formatPeer(p) + ".\n", p, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "rename",
		Description: "Change this agent's name. Mail sent to the old name is forwarded for a while.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in renameIn) (string, any, error) {
		old := s.b.Name()
		a, err := s.b.Rename(ctx, in.Name)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("Renamed %s to %s; mail to %s forwards to you for a while.\n", old, a.Name, old), agentOut{Agent: a}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "set_status",
		Description: "Tell other agents what you are doing (status text) and whether you are busy, idle or online.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in setStatusIn) (string, any, error) {
		if in.Status == nil && in.State == "" {
			return "", nil, invalidf("give status (text), state (online, busy or idle), or both")
		}
		u := hub.StatusUpdate{Status: in.Status}
		if in.State != "" {
			st := in.State
			u.State = &st
		}
		a, err := s.b.SetStatus(ctx, u)
		if err != nil {
			return "", nil, err
		}
		text := fmt.Sprintf("%s is now %s", a.Name, a.State)
		if a.StatusText != "" {
			text += fmt.Sprintf(": %q", a.StatusText)
		}
		return text + ".\n", agentOut{Agent: a}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "peers",
		Description: "List the agents that are online (who is there, their roles and status). " +
			"Use it for \"who is online?\" or to find the name of the agent with a role.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in peersIn) (string, any, error) {
		peers, err := s.b.Peers(ctx, in.Role, !in.IncludeOffline)
		if err != nil {
			return "", nil, err
		}
		if peers == nil {
			peers = []hub.Peer{}
		}
		self := s.b.Name()
		return formatPeers(peers, self, !in.IncludeOffline), peersOut{Peers: peers, Self: self}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "hub_status",
		Description: "Show the Parley hub's state: version, uptime, whether it is open, and every agent with its presence.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ empty) (string, any, error) {
		st, err := s.b.HubStatus(ctx)
		if err != nil {
			return "", nil, err
		}
		var b strings.Builder
		b.WriteString("Parley hub")
		if st.Version != "" {
			fmt.Fprintf(&b, " %s", st.Version)
		}
		fmt.Fprintf(&b, ", up %ds", int64(st.UptimeS))
		if st.Open {
			b.WriteString(", open (no authentication)")
		}
		if st.Via != "" {
			fmt.Fprintf(&b, ", %s", st.Via)
		}
		b.WriteString(".\n")
		if st.Peers == nil {
			st.Peers = []hub.Peer{}
		}
		b.WriteString(formatPeers(st.Peers, st.Self, false))
		return b.String(), st, nil
	})
}
