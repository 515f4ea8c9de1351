package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsctl/wsctl/fleet"
	"github.com/wsctl/wsctl/internal/cli"
)

// FleetACLOptions are the flags of `wsctl fleet acl`.
type FleetACLOptions struct {
	IO       *cli.IOStreams
	SpecPath string
	Agent    string
	Node     string
	Pipeline bool
}

// NewCmdFleet groups the commands about the fleet itself (the operations
// are drain, maint, ready, rollout and status --fleet).
func NewCmdFleet(f *Factory, runF func(*FleetACLOptions) error) *cobra.Command {
	io := f.IO
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "The fleet of load balancers in Consul: its ACL policies",
		Example: `  # The policy of load balancer lb2's agent, and of the deploy pipeline
  wsctl fleet acl -c wsctl.yaml --agent lb2
  wsctl fleet acl -c wsctl.yaml --pipeline`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCmdFleetACL(io, runF))
	return cmd
}

func newCmdFleetACL(io *cli.IOStreams, runF func(*FleetACLOptions) error) *cobra.Command {
	opts := &FleetACLOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "acl -c SPEC --agent ID [--node NAME] | --pipeline",
		Short: "Print the least Consul ACL policy a load balancer's agent or a pipeline needs",
		Long: `Print, as HCL for ` + "`consul acl policy create -rules @FILE`" + `, the least a token
needs under the spec's kv_prefix with ACLs on (default_policy "deny").

--agent ID: the agent may write its own announcement (<prefix>agents/ID) and
its own reports (<prefix>progress/ID/…) only, read the rest of the prefix,
write its wsctl-agent service (the TTL check its session is bound to) and
sessions on its Consul node, and read what discovery needs (the spec's
services and the nodes that run them). --node is the Consul agent's node
name the wsctl agent talks to (default: ID, as ` + "`wsctl agent`" + ` defaults its id to
the node name). Another agent's token may neither write nor delete these
keys, and no agent token may write an intent.

--pipeline: what ` + "`wsctl drain|maint|ready|rollout --fleet`" + ` needs: write on
<prefix>intents/, read on the rest of the prefix.

Give each load balancer its own token: with one token shared by every agent,
or with ACLs off, anyone who may write the prefix can forge a report and
make ` + "`wsctl drain --fleet`" + ` exit 0 while sessions remain.`,
		Example: `  wsctl fleet acl -c wsctl.yaml --agent lb2 > lb2.hcl
  consul acl policy create -name wsctl-agent-lb2 -rules @lb2.hcl
  consul acl token create -policy-name wsctl-agent-lb2
  wsctl fleet acl -c wsctl.yaml --pipeline > pipeline.hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (opts.Agent == "") == !opts.Pipeline {
				return errors.New("fleet acl: give --agent ID or --pipeline")
			}
			if opts.Node != "" && opts.Agent == "" {
				return errors.New("fleet acl: --node needs --agent")
			}
			if runF != nil {
				return runF(opts)
			}
			return fleetACLRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.SpecPath, "config", "c", "", "wsctl spec: its consul.kv_prefix and the services it discovers "+specDefaultHelp)
	cmd.Flags().StringVar(&opts.Agent, "agent", "", "the policy of the agent with this id (its wsctl agent --agent-id)")
	cmd.Flags().StringVar(&opts.Node, "node", "", "with --agent, the Consul node the agent talks to (default: the agent id)")
	cmd.Flags().BoolVar(&opts.Pipeline, "pipeline", false, "the policy of a pipeline running the --fleet commands")
	return cmd
}

// fleetACLRun is `wsctl fleet acl`.
func fleetACLRun(opts *FleetACLOptions) error {
	sp, err := loadSpec(opts.IO, opts.SpecPath)
	if err != nil {
		return err
	}
	if opts.Pipeline {
		_, err := fmt.Fprint(opts.IO.Out, fleet.PipelinePolicy(sp.Consul.KVPrefix))
		return err
	}
	policy, err := fleet.SpecAgentPolicy(sp, opts.Agent, opts.Node)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(opts.IO.Out, policy)
	return err
}
