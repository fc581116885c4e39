package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// proposedResult is what a proposal step returns.
type proposedResult struct {
	proposed []*ceremony.Proposed
	analysis *ceremony.RotationAnalysis
}

// proposalText shows staged proposals and, for a root, whether the
// custodians can reach both thresholds.
func proposalText(st *styles, r proposedResult, w int) string {
	var b strings.Builder
	for _, p := range r.proposed {
		b.WriteString(st.heading.Render("staged "+p.File) + "\n")
		b.WriteString(changesText(st, p.Changes, w))
		b.WriteString("\n")
	}
	if a := r.analysis; a != nil {
		if a.Feasible {
			b.WriteString(st.ok.Render("✓ both thresholds can be reached with the custodians' keys") + "\n")
		} else {
			b.WriteString(st.bad.Render("✗ a threshold cannot be reached:") + "\n")
		}
		for _, rp := range a.Requirements {
			b.WriteString(truncate(fmt.Sprintf("  %-20s needs %d: can sign %s", rp.Name, rp.Threshold, ceremony.SignerNames(append(append([]ceremony.Signer{}, rp.Signed...), rp.Usable...))), w) + "\n")
		}
		for _, x := range a.Warnings {
			b.WriteString(st.warn.Render("!! ") + wrap(x, w-3) + "\n")
		}
		for _, o := range a.Options {
			b.WriteString("  - " + wrap(o, w-4) + "\n")
		}
	}
	return b.String()
}

// ---- renewal ----

type renewState struct {
	role     string
	validity string
	result   proposedResult
}

// newRenewFlow: renew expiring metadata: the next version of root or
// targets with nothing changed but the expiry.
func newRenewFlow(sh *shared) (*flow, error) {
	if err := requireWorkspace(sh); err != nil {
		return nil, err
	}
	if len(sh.media.versions["root"]) == 0 {
		return nil, errors.New("nothing is published yet: finish the new repository first")
	}
	s := &renewState{}
	media := sh.media.dir
	f := newFlow(sh, "renewal", "Renew expiring metadata", media,
		roomStep(),
		&step{
			title: "Choose what to renew",
			kind:  stepChoose,
			options: func(f *flow) []option {
				var opts []option
				for _, role := range []string{"root", "targets"} {
					vs := f.sh.media.versions[role]
					if len(vs) == 0 {
						continue
					}
					opts = append(opts, option{
						label: fmt.Sprintf("%s v%d", role, vs[len(vs)-1]),
						detail: expiryText(f.sh.st, f.sh.media.expires[role], f.sh.now) +
							map[string]string{"root": " — signed by the root keys", "targets": " — signed by the targets keys"}[role],
						value: role,
					})
				}
				return opts
			},
			choose: func(f *flow, o option) error {
				s.role = o.value.(string)
				return nil
			},
		},
		&step{
			title:  "How long the new version is valid",
			kind:   stepInput,
			prompt: "validity: ",
			body: func(f *flow) string {
				return wrap("A whole number and a unit: d (days), w (weeks), h (hours), e.g. 365d. Empty: the plan's expiry for "+s.role+".", f.sh.width)
			},
			submit: func(f *flow, v string) error {
				if v != "" {
					if _, err := ceremony.ParseDuration(v); err != nil {
						return err
					}
				}
				s.validity = v
				return nil
			},
			run: func(f *flow) jobFunc {
				role, v := s.role, s.validity
				return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
					ws, err := openWS(ctx, media)
					if err != nil {
						return nil, err
					}
					d, err := validity(ws, role, v)
					if err != nil {
						return nil, err
					}
					var p *ceremony.Proposed
					if role == "root" {
						p, err = ceremony.ProposeRoot(ws, ceremony.RootChange{Expires: d})
					} else {
						p, err = ceremony.ProposeTargets(ws, ceremony.TargetsChange{Expires: d})
					}
					if err != nil {
						return nil, err
					}
					return proposedResult{proposed: []*ceremony.Proposed{p}}, nil
				}
			},
			done: func(f *flow, res any) error {
				s.result = res.(proposedResult)
				return nil
			},
		},
		&step{
			title: "Renewal staged",
			kind:  stepAck,
			body: func(f *flow) string {
				return proposalText(f.sh.st, s.result, f.sh.width) + "Next: the custodians sign it.\n"
			},
			ack:      func(f *flow) string { return "renewal of " + s.role + " staged: " + s.result.proposed[0].File },
			finalKey: "acknowledge, then sign",
		},
	)
	f.onFinish = func(f *flow) tea.Cmd { return switchTo(sh, newSignFlow) }
	return f, nil
}

// validity parses v, or takes the plan's expiry of role when v is empty.
func validity(ws *ceremony.Workspace, role, v string) (ceremony.Duration, error) {
	if v != "" {
		return ceremony.ParseDuration(v)
	}
	data, err := ws.ReadFile(ceremony.PlanFile)
	if err != nil {
		return 0, fmt.Errorf("no validity given and no plan on the medium to take it from: type one, e.g. 365d")
	}
	plan, err := ceremony.ParsePlan(data)
	if err != nil {
		return 0, err
	}
	return plan.Role(role).Expires, nil
}

// ---- rotations ----

type rotateMode int

const (
	rotatePlanned   rotateMode = iota // root keys replaced on schedule
	rotateEmergency                   // compromised keys revoked
	rotateTargets                     // targets keys replaced
)

type rotateState struct {
	role      string
	revoke    map[string]bool
	added     []*ceremony.KeyRecord
	token     *ceremony.TokenListing
	custodian string
	threshold int
	validity  string
	result    proposedResult
}

// newRotateFlow makes the rotation ceremonies: choose the keys to revoke,
// generate new keys on the custodians' tokens, set the threshold and the
// expiry, stage the new root (and, for targets, a targets version signed
// by the new keys), then sign.
func newRotateFlow(mode rotateMode) func(*shared) (*flow, error) {
	return func(sh *shared) (*flow, error) {
		if err := requireWorkspace(sh); err != nil {
			return nil, err
		}
		if sh.media.rootRoles == nil {
			return nil, errors.New("nothing is published yet: finish the new repository first")
		}
		s := &rotateState{role: "root", revoke: map[string]bool{}}
		name, title, revokeTitle := "root-rotation", "Planned root rotation", "Choose the keys to retire"
		switch mode {
		case rotateEmergency:
			name, title, revokeTitle = "emergency-revocation", "Emergency revocation", "Mark the compromised keys"
		case rotateTargets:
			s.role = "targets"
			name, title, revokeTitle = "targets-rotation", "Targets key rotation", "Choose the targets keys to retire"
		}
		media := sh.media.dir
		var addStep func() *step
		addStep = func() *step {
			return &step{
				title: "Generate new keys",
				kind:  stepChoose,
				body: func(f *flow) string {
					var b strings.Builder
					for _, r := range s.added {
						b.WriteString(fmt.Sprintf("%s new %s key of %s: %s\n", f.sh.st.ok.Render("✓"), s.role, r.Custodian, ceremony.ShortID(r.KeyID)))
					}
					b.WriteString(wrap("Insert the token of a custodian who gets a new "+s.role+" key and choose it; or choose \"no more new keys\".", f.sh.width))
					return b.String()
				},
				options: func(f *flow) []option {
					opts := []option{{label: "no more new keys", value: nil}}
					for _, l := range f.sh.tokens {
						o := option{label: tokenLine(l, f.sh.media.custodianOf(l)), value: l}
						if l.Error != "" {
							o.disabled, o.detail = true, "✗ cannot be read: "+l.Error
						}
						opts = append(opts, o)
					}
					return opts
				},
				choose: func(f *flow, o option) error {
					l, ok := o.value.(ceremony.TokenListing)
					if !ok {
						return nil
					}
					s.token = &l
					f.insert(custodianStep(s, media), addStep())
					return nil
				},
			}
		}
		steps := []*step{
			roomStep(),
			{
				title: revokeTitle,
				kind:  stepChoose,
				body: func(f *flow) string {
					t := "Space selects a key, enter goes on."
					if mode == rotateEmergency {
						t = "Select every key that is lost or may be in someone else's hands (space), then enter. Their custodians' other keys stay."
					}
					return wrap(t, f.sh.width)
				},
				options: func(f *flow) []option {
					var opts []option
					ids := append([]string{}, f.sh.media.rootRoles[s.role]...)
					sort.Slice(ids, func(i, j int) bool { return f.sh.media.names[ids[i]] < f.sh.media.names[ids[j]] })
					for _, id := range ids {
						box := "[ ]"
						if s.revoke[id] {
							box = "[x]"
						}
						who := f.sh.media.names[id]
						if who == "" {
							who = "?"
						}
						opts = append(opts, option{label: fmt.Sprintf("%s %-10s %s", box, who, ceremony.ShortID(id)), value: id})
					}
					return opts
				},
				toggle: func(f *flow, o option) {
					id := o.value.(string)
					s.revoke[id] = !s.revoke[id]
				},
			},
			addStep(),
			{
				title:  "Set the threshold",
				kind:   stepInput,
				prompt: "threshold: ",
				body: func(f *flow) string {
					n := len(f.sh.media.rootRoles[s.role]) - countTrue(s.revoke) + len(s.added)
					return wrap(fmt.Sprintf("How many of the %d %s keys must sign. Today: %d.", n, s.role, f.sh.media.rootThresholds[s.role]), f.sh.width)
				},
				initial: func(f *flow) string {
					n := len(f.sh.media.rootRoles[s.role]) - countTrue(s.revoke) + len(s.added)
					return strconv.Itoa(max(1, min(f.sh.media.rootThresholds[s.role], n)))
				},
				submit: func(f *flow, v string) error {
					n, err := strconv.Atoi(v)
					if err != nil || n < 1 {
						return errors.New("the threshold is a whole number, at least 1")
					}
					s.threshold = n
					return nil
				},
			},
			{
				title:  "How long the new root is valid",
				kind:   stepInput,
				prompt: "validity: ",
				body: func(f *flow) string {
					t := "e.g. 365d. Empty: the plan's root expiry."
					if mode == rotateEmergency {
						t = "After a compromise, prefer a short validity (e.g. 30d) and a planned rotation once things are calm."
					}
					return wrap(t, f.sh.width)
				},
				initial: func(f *flow) string {
					if mode == rotateEmergency {
						return "30d"
					}
					return ""
				},
				submit: func(f *flow, v string) error {
					if v != "" {
						if _, err := ceremony.ParseDuration(v); err != nil {
							return err
						}
					}
					s.validity = v
					return nil
				},
			},
			{
				title: "Stage the proposal",
				kind:  stepAuto,
				run: func(f *flow) jobFunc {
					change := ceremony.RootChange{Compromised: mode == rotateEmergency, Thresholds: map[string]int{s.role: s.threshold}}
					for id, on := range s.revoke {
						if on {
							change.Revoke = append(change.Revoke, id)
						}
					}
					sort.Strings(change.Revoke)
					for _, r := range s.added {
						change.Add = append(change.Add, ceremony.RoleKey{Role: s.role, KeyID: r.KeyID})
					}
					v, role, now := s.validity, s.role, f.now()
					return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
						ws, err := openWS(ctx, media)
						if err != nil {
							return nil, err
						}
						if change.Expires, err = validity(ws, "root", v); err != nil {
							return nil, err
						}
						p, err := ceremony.ProposeRoot(ws, change)
						if err != nil {
							return nil, err
						}
						res := proposedResult{proposed: []*ceremony.Proposed{p}}
						if role == "targets" {
							// The published targets would no longer
							// verify: a new version, signed by the new
							// keys, is published with the new root.
							d, err := validity(ws, "targets", "")
							if err != nil {
								return nil, err
							}
							t, err := ceremony.ProposeTargets(ws, ceremony.TargetsChange{Expires: d})
							if err != nil {
								return nil, err
							}
							res.proposed = append(res.proposed, t)
						}
						res.analysis, err = ceremony.AnalyzeRotation(ws, nil, now)
						return res, err
					}
				},
				done: func(f *flow, res any) error {
					s.result = res.(proposedResult)
					return nil
				},
			},
			{
				title: "Proposal staged",
				kind:  stepAck,
				body: func(f *flow) string {
					return proposalText(f.sh.st, s.result, f.sh.width) + "Next: the custodians sign it.\n"
				},
				ack:      func(f *flow) string { return "proposal staged: " + s.result.proposed[0].File },
				finalKey: "acknowledge, then sign",
			},
		}
		f := newFlow(sh, name, title, media, steps...)
		f.onFinish = func(f *flow) tea.Cmd { return switchTo(sh, newSignFlow) }
		return f, nil
	}
}

// custodianStep asks whose the new key is, then generates it on the
// chosen token.
func custodianStep(s *rotateState, media string) *step {
	return &step{
		title:  "Name the custodian of the new key",
		kind:   stepInput,
		prompt: "custodian: ",
		body: func(f *flow) string {
			return "The new " + s.role + " key is generated on " + s.token.Token.String() + ".\n"
		},
		initial: func(f *flow) string { return f.sh.media.custodianOf(*s.token) },
		submit: func(f *flow, v string) error {
			if err := ceremony.ValidateCustodian(v); err != nil {
				return err
			}
			s.custodian = v
			return nil
		},
		run: func(f *flow) jobFunc {
			uri, who, role, force, open, roots := s.token.Token.URI, s.custodian, s.role, f.force, f.sh.opts.Open, f.sh.opts.AttestationRoots
			return func(ctx context.Context, p ceremony.Prompter) (any, error) {
				ws, err := openWS(ctx, media)
				if err != nil {
					return nil, err
				}
				tok, pin, err := open(ctx, uri)
				if err != nil {
					return nil, err
				}
				defer tok.Close()
				return ceremony.Keygen(ctx, ws, tok, p, ceremony.KeygenOptions{
					Custodian: who, Purpose: role, AttestationRoots: roots,
					Unlock: ceremony.UnlockOptions{PIN: pin, Force: force},
				})
			}
		},
		done: func(f *flow, res any) error {
			s.added = append(s.added, res.(*ceremony.KeyRecord))
			return nil
		},
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
