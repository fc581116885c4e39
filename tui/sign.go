package tui

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// signState is what the sign ceremony carries from step to step.
type signState struct {
	token  *ceremony.TokenListing
	signed []ceremony.SignedFile
	status []ceremony.ProposalStatus
}

type signResult struct {
	signed []ceremony.SignedFile
	status []ceremony.ProposalStatus
}

// newSignFlow: a custodian arrives with a token and signs what is staged.
func newSignFlow(sh *shared) (*flow, error) {
	if err := requireWorkspace(sh); err != nil {
		return nil, err
	}
	if len(sh.media.status) == 0 {
		return nil, fmt.Errorf("%w on %s", ceremony.ErrNothingStaged, sh.media.dir)
	}
	s := &signState{}
	media := sh.media.dir
	f := newFlow(sh, "sign", "Sign a staged proposal", media,
		roomStep(),
		&step{
			title: "See what is staged and who can sign",
			kind:  stepAck,
			body: func(f *flow) string {
				return statusText(f.sh.st, f.sh.media.status, f.sh.width)
			},
			ack: func(f *flow) string {
				var parts []string
				for _, p := range f.sh.media.status {
					for _, r := range p.Requirements {
						parts = append(parts, fmt.Sprintf("%s %s %d/%d", path.Base(p.File), r.Name, len(r.Signed), r.Threshold))
					}
				}
				return "status read: " + strings.Join(parts, "; ")
			},
		},
		&step{
			title: "Insert the token",
			kind:  stepChoose,
			body: func(f *flow) string {
				return expectedText(f.sh) + f.sh.st.subtle.Render(truncate("Insert a token: it is recognised at once.", f.sh.width)) + "\n"
			},
			options: func(f *flow) []option { return tokenOptions(f.sh) },
			choose: func(f *flow, o option) error {
				l := o.value.(ceremony.TokenListing)
				s.token = &l
				return nil
			},
		},
		&step{
			title:     "Review, PIN and signature",
			kind:      stepAuto,
			retryPrev: true,
			run: func(f *flow) jobFunc {
				uri, force, open := s.token.Token.URI, f.force, f.sh.opts.Open
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
					signed, err := ceremony.Sign(ctx, ws, tok, p, ceremony.SignOptions{
						Unlock: ceremony.UnlockOptions{PIN: pin, Force: force},
					})
					if err != nil {
						return nil, err
					}
					st, err := ceremony.Status(ws)
					return signResult{signed: signed, status: st}, err
				}
			},
			done: func(f *flow, res any) error {
				r := res.(signResult)
				s.signed, s.status = r.signed, r.status
				return nil
			},
		},
		&step{
			title: "Signed",
			kind:  stepAck,
			body: func(f *flow) string {
				st := f.sh.st
				var b strings.Builder
				for _, sf := range s.signed {
					who := sf.Custodian
					if who == "" {
						who = ceremony.ShortID(sf.KeyID)
					}
					b.WriteString(fmt.Sprintf("%s %s signed by %s (counts for %s)\n", st.ok.Render("✓"), sf.File, who, strings.Join(sf.Under, ", ")))
				}
				b.WriteString("\n" + statusText(st, s.status, f.sh.width))
				if allReady(s.status) {
					b.WriteString("\n" + st.ok.Render("Every threshold is met: next, publish.") + "\n")
				} else {
					b.WriteString("\nNext: the next custodian inserts their token.\n")
				}
				return b.String()
			},
			ack: func(f *flow) string {
				var parts []string
				for _, sf := range s.signed {
					parts = append(parts, fmt.Sprintf("%s signed by %s", path.Base(sf.File), sf.Custodian))
				}
				return "signature seen written: " + strings.Join(parts, ", ")
			},
			finalKey: "acknowledge, then go on",
		},
	)
	f.onFinish = func(f *flow) tea.Cmd {
		if allReady(s.status) {
			return switchTo(sh, newPublishFlow)
		}
		return switchTo(sh, newSignFlow)
	}
	return f, nil
}

// neededKeys maps the key IDs that staged files still need to the files.
func neededKeys(mi *mediaInfo) map[string][]string {
	out := map[string][]string{}
	for _, p := range mi.status {
		for _, r := range p.Requirements {
			for _, s := range r.CanStillSign {
				name := path.Base(p.File)
				if !contains(out[s.KeyID], name) {
					out[s.KeyID] = append(out[s.KeyID], name)
				}
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expectedText names the custodians who can still sign, with their
// tokens as recorded at key generation.
func expectedText(sh *shared) string {
	mi := &sh.media
	need := neededKeys(mi)
	ids := make([]string, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return mi.names[ids[i]] < mi.names[ids[j]] })
	var b strings.Builder
	b.WriteString("Expected, one after the other:\n")
	for _, id := range ids {
		who := mi.names[id]
		if who == "" {
			who = ceremony.ShortID(id)
		}
		line := fmt.Sprintf("  %-8s", who)
		if rec := mi.records[id]; rec != nil && rec.Token != nil {
			line += fmt.Sprintf(" %s %s", rec.Token.Label, rec.Token.Serial)
		} else if rec != nil && rec.Kind == ceremony.KindOnline {
			line += " an online key: not signed here"
		}
		line += " for " + strings.Join(need[id], ", ")
		b.WriteString(truncate(line, sh.width) + "\n")
	}
	return b.String()
}

// tokenOptions lists the tokens present, recognised: a token that holds a
// key a staged file needs can be chosen; any other is named and why.
func tokenOptions(sh *shared) []option {
	mi := &sh.media
	need := neededKeys(mi)
	// signed: keys that have signed a staged file (a retired key is
	// known on the medium but has signed nothing).
	signed := map[string]bool{}
	for _, p := range mi.status {
		for _, r := range p.Requirements {
			for _, s := range r.Signed {
				signed[s.KeyID] = true
			}
		}
	}
	var usable, others []option
	for _, l := range sh.tokens {
		label := fmt.Sprintf("%-8s %s", l.Token.Label, l.Token.Serial)
		var can []string
		var signedAlready bool
		for _, k := range l.Keys {
			if files, ok := need[k.KeyID]; ok && k.KeyID != "" {
				who := mi.names[k.KeyID]
				if who == "" {
					who = ceremony.ShortID(k.KeyID)
				}
				can = append(can, fmt.Sprintf("✓ %s's key: signs %s", who, strings.Join(files, ", ")))
			} else if signed[k.KeyID] {
				signedAlready = true
			}
		}
		o := option{value: l}
		switch {
		case l.Error != "":
			o.disabled = true
			o.label = label + "  ✗ cannot be read: " + l.Error
		case len(can) > 0:
			o.label = label + "  " + strings.Join(can, "; ")
		case signedAlready:
			o.disabled = true
			o.label = label + "  ✗ wrong token: " + mi.custodianOf(l) + "'s, which has signed all it can"
		case mi.custodianOf(l) != "":
			o.disabled = true
			o.label = label + "  ✗ wrong token: " + mi.custodianOf(l) + "'s; none of its keys is needed"
		default:
			o.disabled = true
			o.label = label + "  ✗ wrong token: it holds no key a staged file needs"
		}
		if o.disabled {
			others = append(others, o)
		} else {
			usable = append(usable, o)
		}
	}
	return append(usable, others...)
}
