package ceremony

import (
	"strings"
	"time"
)

// ProposalStatus is where one staged file stands.
type ProposalStatus struct {
	File         string              `json:"file"`
	Role         string              `json:"role"`
	Version      int64               `json:"version"`
	Expires      time.Time           `json:"expires"`
	Ready        bool                `json:"ready"`
	Expired      bool                `json:"expired"`
	Requirements []RequirementStatus `json:"requirements"`
}

// RequirementStatus is one threshold of a staged file.
type RequirementStatus struct {
	Name         string   `json:"name"`
	Threshold    int      `json:"threshold"`
	Signed       []Signer `json:"signed"`
	Invalid      []Signer `json:"invalid"`
	CanStillSign []Signer `json:"can_still_sign"`
	Met          bool     `json:"met"`
}

// Signer is a key and its custodian.
type Signer struct {
	KeyID     string `json:"keyid"`
	Custodian string `json:"custodian,omitempty"`
}

// SignerNames lists signers by custodian (a key without one by its short
// ID), or says "nobody".
func SignerNames(ss []Signer) string {
	if len(ss) == 0 {
		return "nobody"
	}
	var out []string
	for _, s := range ss {
		n := ShortID(s.KeyID)
		if s.Custodian != "" {
			n = s.Custodian
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

// Status reports, for each staged file, which keys have signed, which
// custodians could still sign, and whether it is ready to publish.
func Status(ws *Workspace) ([]ProposalStatus, error) {
	props, err := ws.Proposals()
	if err != nil {
		return nil, err
	}
	names, err := ws.names(props)
	if err != nil {
		return nil, err
	}
	out := []ProposalStatus{}
	for _, p := range props {
		ps := ProposalStatus{File: p.Path, Role: p.Role, Version: p.Version, Expires: p.Header.Expires, Ready: p.Ready(ws.now()), Expired: !p.Header.Expires.After(ws.now())}
		for _, t := range p.Tally() {
			ps.Requirements = append(ps.Requirements, RequirementStatus{
				Name:         t.Name,
				Threshold:    t.Threshold,
				Signed:       signers(names, t.Signed),
				Invalid:      signers(names, t.Invalid),
				CanStillSign: signers(names, append(append([]string{}, t.Unsigned...), t.Invalid...)),
				Met:          t.Met(),
			})
		}
		out = append(out, ps)
	}
	return out, nil
}

func signers(names map[string]string, ids []string) []Signer {
	out := []Signer{}
	for _, id := range ids {
		out = append(out, Signer{KeyID: id, Custodian: names[id]})
	}
	return out
}
