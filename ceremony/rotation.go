package ceremony

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RotationAnalysis says whether a staged root can reach both of its
// thresholds with the custodians at hand, and if not, why and what the
// options are.
type RotationAnalysis struct {
	File         string            `json:"file"`
	Feasible     bool              `json:"feasible"`
	Requirements []RequirementPlan `json:"requirements"`
	Compromised  []Signer          `json:"compromised"`
	Warnings     []string          `json:"warnings"`
	Options      []string          `json:"options"`
}

// RequirementPlan is one threshold and who can meet it.
type RequirementPlan struct {
	Name      string   `json:"name"`
	Threshold int      `json:"threshold"`
	Signed    []Signer `json:"signed"`
	Usable    []Signer `json:"usable"`    // available, not compromised, not yet signed
	Unusable  []Signer `json:"unusable"`  // custodians not available
	Tainted   []Signer `json:"tainted"`   // compromised keys listed here
	Reachable bool     `json:"reachable"` // without compromised keys
}

// AnalyzeRotation looks at the staged root. available names the custodians
// present (empty: everyone). Compromised keys are those revoked by a
// proposal marked compromised.
func AnalyzeRotation(ws *Workspace, available []string, now time.Time) (*RotationAnalysis, error) {
	props, err := ws.Proposals()
	if err != nil {
		return nil, err
	}
	var root *Proposal
	for _, p := range props {
		if p.Role == metadata.ROOT {
			root = p
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no staged root to analyze", ErrNothingStaged)
	}
	names, err := ws.names(props)
	if err != nil {
		return nil, err
	}
	compromised, err := ws.compromisedKeys(root.Path)
	if err != nil {
		return nil, err
	}
	isAvailable := func(id string) bool {
		return len(available) == 0 || slices.Contains(available, names[id])
	}
	a := &RotationAnalysis{File: root.Path, Feasible: true, Compromised: signers(names, compromised), Warnings: []string{}, Options: []string{}}
	for _, t := range root.Tally() {
		rp := RequirementPlan{Name: t.Name, Threshold: t.Threshold, Signed: signers(names, t.Signed)}
		var usable, unusable, tainted []string
		for _, id := range append(append([]string{}, t.Unsigned...), t.Invalid...) {
			switch {
			case slices.Contains(compromised, id):
				tainted = append(tainted, id)
			case isAvailable(id):
				usable = append(usable, id)
			default:
				unusable = append(unusable, id)
			}
		}
		rp.Usable, rp.Unusable, rp.Tainted = signers(names, usable), signers(names, unusable), signers(names, tainted)
		rp.Reachable = len(t.Signed)+len(usable) >= t.Threshold
		if !rp.Reachable {
			a.Feasible = false
			a.Options = append(a.Options, rotationOptions(t, names, usable, unusable, tainted)...)
		}
		a.Requirements = append(a.Requirements, rp)
	}
	if len(compromised) > 0 {
		a.Warnings = append(a.Warnings,
			fmt.Sprintf("the compromised key(s) of %s may also sign: whoever holds them can sign a competing root v%d that keeps them; publish this rotation, and serve it, as soon as possible", WhoList(names, compromised), root.Version),
			"signatures that remain usable: "+usableList(a.Requirements))
		if root.Header.Expires.Sub(now) > 90*24*time.Hour {
			a.Warnings = append(a.Warnings, fmt.Sprintf("root v%d expires in %d days: after a compromise, prefer a short expiry (e.g. --expires root=30d) and a planned rotation once things are calm", root.Version, int(root.Header.Expires.Sub(now).Hours()/24)))
		}
	}
	if note := sameCustodiansNote(root, names); note != "" {
		a.Warnings = append(a.Warnings, note)
	}
	return a, nil
}

func usableList(reqs []RequirementPlan) string {
	var parts []string
	for _, r := range reqs {
		var who []string
		for _, s := range append(append([]Signer{}, r.Signed...), r.Usable...) {
			who = append(who, signerName(s))
		}
		if len(who) == 0 {
			who = []string{"nobody"}
		}
		parts = append(parts, r.Name+": "+strings.Join(who, ", "))
	}
	return strings.Join(parts, "; ")
}

func signerName(s Signer) string {
	if s.Custodian != "" {
		return s.Custodian
	}
	return shortID(s.KeyID)
}

// rotationOptions explains an unreachable threshold.
func rotationOptions(t Tally, names map[string]string, usable, unusable, tainted []string) []string {
	short := t.Threshold - len(t.Signed) - len(usable)
	var out []string
	out = append(out, fmt.Sprintf("%s needs %d signature(s) and can get at most %d from custodians present: %d short", t.Name, t.Threshold, len(t.Signed)+len(usable), short))
	if len(unusable) > 0 {
		out = append(out, fmt.Sprintf("%s: bring in %s (their signature can also be collected at another site and added with tuf-ceremony merge)", t.Name, WhoList(names, unusable)))
	}
	if len(tainted) > 0 && len(tainted) >= short {
		if strings.HasPrefix(t.Name, "previous") {
			out = append(out, fmt.Sprintf("%s: the compromised key(s) of %s can still sign for the previous root; such a signature only authorizes this rotation, which removes them, but it must be made by their custodian, not by whoever stole them", t.Name, WhoList(names, tainted)))
		} else {
			out = append(out, fmt.Sprintf("%s: the new root must not rely on compromised keys; revoke them", t.Name))
		}
	}
	if strings.HasPrefix(t.Name, "previous") {
		out = append(out, fmt.Sprintf("%s: if the previous threshold cannot be met at all, clients cannot follow this rotation; the new root must then be distributed out of band as their new trusted root", t.Name))
	} else {
		out = append(out, fmt.Sprintf("%s: lower the threshold (--threshold root=N) or add keys of custodians present (keygen, then --add-key root=KEYID) in a new proposal", t.Name))
	}
	return out
}

// sameCustodiansNote notices when the same people replace all their keys:
// each must then bring the old token and the new one.
func sameCustodiansNote(root *Proposal, names map[string]string) string {
	if len(root.Requirements) < 2 {
		return ""
	}
	newReq, prevReq := root.Requirements[0], root.Requirements[1]
	shared := 0
	newPeople, prevPeople := map[string]bool{}, map[string]bool{}
	for _, id := range newReq.KeyIDs {
		if _, ok := prevReq.Keys[id]; ok {
			shared++
		}
		newPeople[names[id]] = true
	}
	for _, id := range prevReq.KeyIDs {
		prevPeople[names[id]] = true
	}
	if shared > 0 || len(newPeople) == 0 {
		return ""
	}
	for p := range newPeople {
		if p == "" || !prevPeople[p] {
			return ""
		}
	}
	return "every root key is replaced and the custodians stay the same: each signs twice, with the old token (for the previous root) and with the new one"
}

// compromisedKeys reads, from the transcript, the keys that the proposal
// of file named as compromised.
func (w *Workspace) compromisedKeys(file string) ([]string, error) {
	entries, err := w.Transcript()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Event != "proposed" {
			continue
		}
		var d struct {
			File        string   `json:"file"`
			Revoked     []string `json:"revoked"`
			Compromised bool     `json:"compromised"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.File == file {
			out = nil
			if d.Compromised {
				out = d.Revoked
			}
		}
	}
	return out, nil
}
