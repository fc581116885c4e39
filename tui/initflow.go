package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// initState is what the new-repository ceremony carries.
type initState struct {
	planPath  string
	plan      *ceremony.Plan
	planBytes []byte
	res       *ceremony.InitResult
	// built: the plan was built in the TUI (planbuilder.go), read aloud
	// and saved there.
	built bool
}

type loadedPlan struct {
	path  string
	plan  *ceremony.Plan
	bytes []byte
}

// newInitFlow: a new repository from a plan file. The keys are generated
// on each custodian's token in turn, then root and targets v1 are staged
// and the signing begins.
func newInitFlow(sh *shared) (*flow, error) {
	mi := &sh.media
	switch {
	case mi.dir == "":
		return nil, errors.New("no medium chosen: press m and name an empty directory")
	case mi.exists && len(mi.versions["root"]) > 0:
		return nil, fmt.Errorf("%w: %s", ceremony.ErrAlreadyInitialized, mi.dir)
	case mi.err != nil:
		return nil, mi.err
	}
	s := &initState{}
	media := mi.dir
	f := newFlow(sh, "new-repository", "New repository", media,
		roomStep(),
		&step{
			title:  "Open the plan",
			kind:   stepInput,
			prompt: "plan file: ",
			body: func(f *flow) string {
				return wrap("The plan says who holds each role, the thresholds and the expiries. It was written and agreed before the ceremony; give its path (YAML). No plan file? Press tab to build the plan here.", f.sh.width)
			},
			actions: func(f *flow) []action {
				return []action{{key: bind("tab", "build the plan here"), run: func(f *flow) tea.Cmd { return buildPlanHere(f, s) }}}
			},
			initial: func(f *flow) string {
				switch {
				case f.sh.opts.Plan != "":
					return f.sh.opts.Plan
				case f.sh.rehearsal != nil:
					return f.sh.rehearsal.plan
				case f.sh.media.hasPlan:
					return filepath.Join(media, ceremony.PlanFile)
				}
				return ""
			},
			submit: func(f *flow, v string) error {
				if v == "" {
					return errors.New("type the path of the plan file")
				}
				s.planPath = v
				return nil
			},
			run: func(f *flow) jobFunc {
				p := s.planPath
				return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
					plan, err := ceremony.LoadPlan(p)
					if err != nil {
						return nil, err
					}
					data, err := os.ReadFile(p)
					return loadedPlan{path: p, plan: plan, bytes: data}, err
				}
			},
			done: func(f *flow, res any) error {
				lp := res.(loadedPlan)
				s.plan, s.planBytes = lp.plan, lp.bytes
				return nil
			},
		},
		&step{
			title: "Read the plan aloud",
			kind:  stepAck,
			skip:  func(f *flow) bool { return s.built }, // read aloud as it was built
			body:  func(f *flow) string { return planText(f.sh.st, s.plan, f.sh.width) },
			ack: func(f *flow) string {
				return "plan " + s.planPath + " read aloud and agreed"
			},
			finalKey: "everyone agrees",
		},
		&step{
			title: "Generate the keys on the tokens",
			kind:  stepAuto,
			body: func(f *flow) string {
				return wrap("Each custodian inserts their token when asked; the key is generated on the token and never leaves it. The token's own evidence of that is recorded.", f.sh.width)
			},
			run: func(f *flow) jobFunc {
				plan, data, force, open, roots := s.plan, s.planBytes, f.force, f.sh.opts.Open, f.sh.opts.AttestationRoots
				return func(ctx context.Context, p ceremony.Prompter) (any, error) {
					ws, err := openOrNewWS(ctx, media)
					if err != nil {
						return nil, err
					}
					return ceremony.Init(ctx, ws, p, ceremony.InitOptions{
						Plan: plan, PlanBytes: data, Open: open, ForcePIN: force, AttestationRoots: roots,
					})
				}
			},
			done: func(f *flow, res any) error {
				s.res = res.(*ceremony.InitResult)
				return nil
			},
		},
		&step{
			title: "Keys generated, version 1 staged",
			kind:  stepAck,
			body: func(f *flow) string {
				st := f.sh.st
				var b strings.Builder
				for _, role := range s.plan.RoleNames() {
					b.WriteString(st.heading.Render(fmt.Sprintf("%s: %d of %d", role, s.plan.Role(role).Threshold, len(s.res.Keys[role]))) + "\n")
					for _, k := range s.res.Keys[role] {
						b.WriteString(truncate(fmt.Sprintf("  %-10s %s  %s", k.Custodian, ceremony.ShortID(k.KeyID), k.Key.Scheme), f.sh.width) + "\n")
					}
				}
				b.WriteString("\n")
				for _, st := range s.res.Staged {
					b.WriteString("staged " + st + "\n")
				}
				b.WriteString("\nNext: each custodian signs, one token after the other.\n")
				return b.String()
			},
			ack: func(f *flow) string {
				return "keys generated and version 1 staged: " + strings.Join(s.res.Staged, ", ")
			},
			finalKey: "acknowledge, then sign",
		},
	)
	f.onFinish = func(f *flow) tea.Cmd { return switchTo(sh, newSignFlow) }
	return f, nil
}

// planText shows a plan as it is read aloud.
func planText(st *styles, plan *ceremony.Plan, width int) string {
	if plan == nil {
		return ""
	}
	var b strings.Builder
	if plan.Name != "" {
		b.WriteString("Plan: " + st.heading.Render(plan.Name) + "\n\n")
	}
	for _, role := range plan.RoleNames() {
		r := plan.Role(role)
		b.WriteString(st.heading.Render(fmt.Sprintf("%s: %d of %d keys, expires after %s", role, r.Threshold, len(r.Keys), r.Expires)) + "\n")
		for _, k := range r.Keys {
			var line string
			switch k.Kind() {
			case ceremony.KeyKindToken:
				line = fmt.Sprintf("  %-10s new %s key on %s", k.Custodian, k.TokenAlgorithm(), hsm.RedactURI(k.Token))
			case ceremony.KeyKindKey:
				line = fmt.Sprintf("  existing key %s", ceremony.ShortID(k.Key))
			case ceremony.KeyKindPublicKey:
				who := k.Custodian
				if who == "" {
					who = "online"
				}
				line = fmt.Sprintf("  %-10s online key %s", who, k.PublicKey)
			}
			b.WriteString(truncate(line, width) + "\n")
		}
	}
	if ws := plan.Lint(); len(ws) > 0 {
		b.WriteString("\n")
		// Wrapped, not cut: the warnings are read aloud too.
		const label = "warning: "
		for _, w := range ws {
			for i, l := range strings.Split(strings.TrimRight(wrapHard(w.String(), width-len(label)), "\n"), "\n") {
				if i == 0 {
					b.WriteString(st.warn.Render(label) + l + "\n")
				} else {
					b.WriteString(strings.Repeat(" ", len(label)) + l + "\n")
				}
			}
		}
	}
	return b.String()
}
