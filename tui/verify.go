package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// newVerifyFlow: verify a medium (or any directory of metadata) as a TUF
// client would, shown as a table of roles, keys, custodians, evidence and
// expiries.
func newVerifyFlow(sh *shared) (*flow, error) {
	var dir string
	var rep *ceremony.VerifyReport
	f := newFlow(sh, "verify", "Verify a medium", sh.media.dir,
		&step{
			title:  "Choose what to verify",
			kind:   stepInput,
			prompt: "directory: ",
			body: func(f *flow) string {
				return wrap("A workspace, a plain directory of N.root.json files, or a tuf-on-ci repository. Nothing is written.", f.sh.width)
			},
			initial: func(f *flow) string { return f.sh.media.dir },
			submit: func(f *flow, v string) error {
				if v == "" {
					return errors.New("type the directory to verify")
				}
				dir = v
				return nil
			},
			run: func(f *flow) jobFunc {
				d, now, roots := dir, f.now(), f.sh.opts.AttestationRoots
				return func(context.Context, ceremony.Prompter) (any, error) {
					return ceremony.Verify(d, ceremony.VerifyOptions{At: now, AttestationRoots: roots})
				}
			},
			done: func(f *flow, res any) error {
				rep = res.(*ceremony.VerifyReport)
				// Acknowledgements go to the medium verified, if it is
				// a workspace.
				f.media = dir
				return nil
			},
		},
		&step{
			title:    "Result",
			kind:     stepAck,
			body:     func(f *flow) string { return verifyText(f.sh.st, rep, f.sh.width) },
			ack:      func(f *flow) string { return verifySummary(rep) },
			finalKey: "finish",
		},
	)
	return f, nil
}

func verifySummary(rep *ceremony.VerifyReport) string {
	if rep.OK() {
		return fmt.Sprintf("verified %s as of %s: no problem found", rep.Dir, rep.At.Format(time.RFC3339))
	}
	return fmt.Sprintf("verified %s as of %s: %d problem(s)", rep.Dir, rep.At.Format(time.RFC3339), len(rep.Problems))
}

// verifyText is the verify report as a table: per role its threshold,
// version and expiry, then one row per key with its custodian, key ID,
// scheme and evidence.
func verifyText(st *styles, rep *ceremony.VerifyReport, w int) string {
	if rep == nil {
		return ""
	}
	var b strings.Builder
	if rep.OK() {
		b.WriteString(st.ok.Render("✓ OK: no problem found") + fmt.Sprintf(" (%s, as of %s)\n", rep.Kind, rep.At.Format("2006-01-02 15:04 UTC")))
	} else {
		b.WriteString(st.bad.Render(fmt.Sprintf("✗ %d problem(s)", len(rep.Problems))) + "\n")
		for _, p := range rep.Problems {
			b.WriteString(truncate(st.bad.Render("  ✗ ")+p, w) + "\n")
		}
	}
	if len(rep.Roots) > 0 {
		line := fmt.Sprintf("root chain v%d → v%d verified", rep.Roots[0].Version, rep.Roots[len(rep.Roots)-1].Version)
		if rep.Targets != nil {
			line += "; " + rep.Targets.File + " verified against it"
		}
		b.WriteString(truncate(line, w) + "\n")
	}
	b.WriteString("\n")
	const cw, kw, sw = 10, 8, 19
	b.WriteString(st.heading.Render(truncate(fmt.Sprintf("%-*s %-*s %-*s %s", cw, "CUSTODIAN", kw, "KEY", sw, "SCHEME", "EVIDENCE"), w)) + "\n")
	for _, r := range rep.Roles {
		head := fmt.Sprintf("%s  %d of %d", r.Role, r.Threshold, len(r.Keys))
		if r.Version > 0 {
			head += fmt.Sprintf("  v%d", r.Version)
		}
		if r.Expires != nil {
			head += "  " + expiryText(st, *r.Expires, rep.At)
		}
		b.WriteString(st.heading.Render(r.Role) + truncate(strings.TrimPrefix(head, r.Role), w-len(r.Role)) + "\n")
		for _, k := range r.Keys {
			who := k.Custodian
			if who == "" {
				who = "?"
			}
			row := fmt.Sprintf("%-*s %-*s %-*s %s", cw, truncate(who, cw), kw, ceremony.ShortID(k.KeyID), sw, truncate(k.Scheme, sw), shortEvidence(k.Evidence))
			b.WriteString(truncate(row, w) + "\n")
		}
	}
	b.WriteString("\n")
	b.WriteString(truncate("SHA256SUMS: "+rep.Sums, w) + "\n")
	b.WriteString(truncate("transcript: "+rep.Transcript, w) + "\n")
	for _, n := range rep.Notes {
		b.WriteString(truncate(st.subtle.Render("note: ")+n, w) + "\n")
	}
	return b.String()
}

// shortEvidence keeps the gist of verify's evidence line.
func shortEvidence(e string) string {
	switch {
	case strings.HasPrefix(e, "generated on "):
		return "born on the token, never extractable"
	case strings.HasPrefix(e, "attested YubiKey"):
		parts := strings.SplitN(e, ",", 3)
		if len(parts) >= 2 {
			return "attested YubiKey" + strings.TrimPrefix(parts[1], " serial")
		}
	case strings.HasPrefix(e, "online key"):
		return "online key"
	}
	return e
}
