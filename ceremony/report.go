package ceremony

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// Report writes a Markdown record of the ceremony that a person can print
// and sign: participants, tokens by serial, keys and their evidence,
// published files with their SHA-256, the verification result, the
// transcript's final hash, and lines for witnesses.
func Report(w io.Writer, ws *Workspace, now time.Time, roots *x509.CertPool) error {
	entries, err := ws.Transcript()
	if err != nil {
		return err
	}
	latest, err := ws.LatestRoot()
	if err != nil {
		return err
	}
	names, err := ws.Custodians(latest)
	if err != nil {
		return err
	}
	title := "TUF key ceremony record"
	if plan, err := ws.ReadFile(PlanFile); err == nil {
		if p, err := ParsePlan(plan); err == nil && p.Name != "" {
			title += ": " + p.Name
		}
	}
	b := &strings.Builder{}
	fmt.Fprintf(b, "# %s\n\n", title)
	fmt.Fprintf(b, "- Medium: `%s`\n", ws.Dir)
	fmt.Fprintf(b, "- Report written: %s\n", now.UTC().Format(time.RFC3339))
	if len(entries) > 0 {
		fmt.Fprintf(b, "- Transcript: %d entries, from %s to %s\n", len(entries),
			entries[0].Time.UTC().Format(time.RFC3339), entries[len(entries)-1].Time.UTC().Format(time.RFC3339))
	}

	// Keys and the custodians and tokens that hold them.
	keyFiles, err := ws.List(KeysDir)
	if err != nil {
		return err
	}
	roles := map[string][]string{}
	if latest != nil {
		for role, r := range latest.Signed.Roles {
			for _, id := range r.KeyIDs {
				roles[id] = append(roles[id], role)
			}
		}
	}
	b.WriteString("\n## Keys\n\n")
	b.WriteString("| Custodian | Key ID | Roles | Scheme | Token | Evidence |\n|---|---|---|---|---|---|\n")
	custodians := map[string][]string{}
	for _, f := range keyFiles {
		id := strings.TrimSuffix(f, ".json")
		rec, err := ws.ReadKeyRecord(id)
		if err != nil {
			return err
		}
		token := "—"
		if rec.Token != nil {
			token = fmt.Sprintf("%s %s, serial %s", rec.Token.Manufacturer, rec.Token.Model, rec.Token.Serial)
			custodians[rec.Custodian] = appendUnique(custodians[rec.Custodian], "serial "+rec.Token.Serial)
		}
		r := roles[id]
		sort.Strings(r)
		evidence, err := keyEvidence(ws, id, roots)
		if err != nil {
			evidence += ": " + err.Error()
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s | %s |\n", mdCell(rec.Custodian), id, mdCell(strings.Join(r, ", ")),
			rec.Key.Scheme, mdCell(token), mdCell(evidence))
	}

	b.WriteString("\n## Participants\n\n")
	var people []string
	for c := range custodians {
		people = append(people, c)
	}
	sort.Strings(people)
	for _, c := range people {
		fmt.Fprintf(b, "- %s (%s) — signature: ______________________\n", mdCell(c), strings.Join(custodians[c], "; "))
	}

	if latest != nil {
		b.WriteString("\n## Roles of the newest root\n\n| Role | Threshold | Keys |\n|---|---|---|\n")
		for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
			if r, ok := latest.Signed.Roles[role]; ok {
				fmt.Fprintf(b, "| %s | %d of %d | %s |\n", role, r.Threshold, len(r.KeyIDs), mdCell(WhoList(names, r.KeyIDs)))
			}
		}
	}

	published, err := ws.List(MetadataDir)
	if err != nil {
		return err
	}
	b.WriteString("\n## Published files\n\n")
	if len(published) == 0 {
		b.WriteString("None yet.\n")
	} else {
		b.WriteString("| File | SHA-256 |\n|---|---|\n")
		for _, f := range published {
			data, err := ws.ReadFile(path.Join(MetadataDir, f))
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "| `metadata/%s` | `%s` |\n", f, sha256Hex(data))
		}
	}

	status, err := Status(ws)
	if err != nil {
		return err
	}
	if len(status) > 0 {
		b.WriteString("\n## Staged, not yet published\n\n")
		for _, s := range status {
			fmt.Fprintf(b, "- `%s`: %s\n", s.File, map[bool]string{true: "ready to publish", false: "waiting for signatures"}[s.Ready])
			for _, r := range s.Requirements {
				fmt.Fprintf(b, "  - %s: %d of %d\n", r.Name, len(r.Signed), r.Threshold)
			}
		}
	}

	if len(published) > 0 {
		rep, err := Verify(ws.Dir, VerifyOptions{At: now, AttestationRoots: roots})
		if err != nil {
			return err
		}
		b.WriteString("\n## Verification\n\n")
		if rep.OK() {
			fmt.Fprintf(b, "`tuf-ceremony verify` found no problem as of %s.\n", now.UTC().Format(time.RFC3339))
		} else {
			for _, p := range rep.Problems {
				fmt.Fprintf(b, "- PROBLEM: %s\n", mdCell(p))
			}
		}
	}

	b.WriteString("\n## Transcript\n\n| # | Time (UTC) | Event | Details |\n|---|---|---|---|\n")
	for _, e := range entries {
		fmt.Fprintf(b, "| %d | %s | %s | %s |\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Event, mdCell(entryDetails(e, names)))
	}
	if data, err := ws.ReadFile(TranscriptFile); err == nil {
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		fmt.Fprintf(b, "\nSHA-256 of the final transcript entry: `%s`\n", sha256Hex([]byte(lines[len(lines)-1])))
		fmt.Fprintf(b, "SHA-256 of transcript.jsonl: `%s`\n", sha256Hex(data))
	}

	b.WriteString("\n## Witnesses\n\nWe witnessed this ceremony and checked the fingerprints read aloud.\n\n")
	for i := 0; i < 3; i++ {
		b.WriteString("Name: ______________________  Signature: ______________________  Date: ____________\n\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// entryDetails is a one-line summary of a transcript entry.
func entryDetails(e Entry, names map[string]string) string {
	var d map[string]any
	if len(e.Data) == 0 || json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch e.Event {
	case "key-generated":
		return fmt.Sprintf("%s key %s for %s", str("algorithm"), shortID(str("keyid")), str("custodian"))
	case "signed":
		return fmt.Sprintf("%s signed by %s", path.Base(str("file")), Who(names, str("keyid")))
	case "published":
		var files []string
		if fs, ok := d["files"].([]any); ok {
			for _, f := range fs {
				if m, ok := f.(map[string]any); ok {
					s, _ := m["file"].(string)
					files = append(files, path.Base(s))
				}
			}
		}
		return strings.Join(files, ", ")
	case "init":
		return "plan SHA-256 " + shortID(str("plan_sha256"))
	}
	return ""
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
