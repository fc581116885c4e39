package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// The plan builder: the custodians of a new repository who have no plan
// file build one here, field by field, with the steps of the flow. The
// draft is a ceremony.Plan; every value typed or chosen is checked by
// writing the draft with Plan.Marshal and parsing it back with the
// ceremony library, exactly as a plan file is checked, and the problems
// about the field just given are shown on its step. Once complete, the
// plan is checked whole (ceremony.ParsePlanAt), read aloud, saved
// atomically, and loaded back with ceremony.LoadPlan: from there the new
// repository goes on as from a plan file.

// planBuilder is the plan being built and where it goes.
type planBuilder struct {
	draft ceremony.Plan
	// pending is the key being added to role.
	role    string
	pending ceremony.PlanKey
	// first is the index of the builder's first step in the flow.
	first int

	// path is where the plan is saved; replace: the custodians agreed to
	// replace the file there, which then held replaced.
	path     string
	replace  bool
	replaced []byte
	// data is the plan as saved, checked is it parsed.
	data    []byte
	checked *ceremony.Plan
}

// builtPlan is what the check of the whole plan returns.
type builtPlan struct {
	path     string // absolute
	data     []byte
	plan     *ceremony.Plan
	replace  bool
	replaced []byte // what the file held when replacing it was agreed
}

// planProblems are the problems found in what a step was given, each
// naming its field (as the ceremony library names it for a plan file):
// the custodian corrects the value and gives it again.
type planProblems struct {
	problems []string
	hint     string
}

func (e *planProblems) Error() string   { return strings.Join(e.problems, "\n") }
func (e *planProblems) Hints() []string { return []string{e.hint} }
func (e *planProblems) Retype()         {}

// retype is a typed answer refused: the custodian corrects it in place.
func retype(format string, args ...any) error {
	return &planProblems{problems: []string{fmt.Sprintf(format, args...)}, hint: hintRetype}
}

const (
	hintRetype = "correct the value and press enter; esc clears this message"
	hintChoose = "press r to choose again"
)

// roleExpiryDefault is the expiry each role's step starts with, inside
// the range ceremony.Plan.Lint accepts for the role.
var roleExpiryDefault = map[string]string{"root": "365d", "targets": "26w", "snapshot": "7d", "timestamp": "1d"}

// buildPlanHere starts the builder from the "Open the plan" step: its steps
// come next, then the new repository goes on with the plan they save.
func buildPlanHere(f *flow, s *initState) tea.Cmd {
	b := &planBuilder{}
	open := f.cur
	b.first = open + 1
	f.insert(b.steps(s)...)
	cmd := f.next()
	f.steps[open].status = statusSkipped
	return cmd
}

// roleDraft returns the draft's plan of a role, made on first use.
func (b *planBuilder) roleDraft(role string) *ceremony.RolePlan {
	r := b.draft.Role(role)
	if r == nil {
		r = &ceremony.RolePlan{}
		switch role {
		case "root":
			b.draft.Roles.Root = r
		case "targets":
			b.draft.Roles.Targets = r
		case "snapshot":
			b.draft.Roles.Snapshot = r
		case "timestamp":
			b.draft.Roles.Timestamp = r
		}
	}
	return r
}

// parseDraft parses a draft as a plan file is parsed, without reading
// its public_key files (on the UI goroutine).
func parseDraft(data []byte) error {
	_, err := ceremony.ParsePlan(data)
	return err
}

// parseDraftFiles parses a draft and reads its public_key files, whose
// paths are absolute until the plan is saved (in a job).
func parseDraftFiles(data []byte) error {
	_, err := ceremony.ParsePlanAt(data, string(filepath.Separator))
	return err
}

// check writes the draft and parses it back with the ceremony library
// (parse is parseDraft or parseDraftFiles), and returns the problems about
// the fields named by prefixes (e.g. "roles.root.threshold",
// "roles.root.keys[2]"), nil if there are none. Problems about fields not
// given yet are not this step's: they are left for their own steps.
func (b *planBuilder) check(parse func([]byte) error, hint string, prefixes ...string) error {
	data, err := b.draft.Marshal()
	if err != nil {
		return err
	}
	err = parse(data)
	var pe *ceremony.PlanError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	var mine []string
	for _, p := range pe.Problems {
		for _, pre := range prefixes {
			if rest, ok := strings.CutPrefix(p, pre); ok && rest != "" && strings.ContainsRune(":.[", rune(rest[0])) {
				mine = append(mine, p)
				break
			}
		}
	}
	if len(mine) == 0 {
		return nil
	}
	return &planProblems{problems: mine, hint: hint}
}

func keyField(role string, i int) string { return fmt.Sprintf("roles.%s.keys[%d]", role, i) }

// steps are the builder's steps, from the repository's name to the saved
// plan. They read their values from the draft, so that editing the plan
// goes through them again with what was given before.
func (b *planBuilder) steps(s *initState) []*step {
	steps := []*step{b.nameStep()}
	for _, role := range []string{"root", "targets"} {
		steps = append(steps, b.tokenKeysStep(role), b.thresholdStep(role), b.expiryStep(role))
	}
	for _, role := range []string{"snapshot", "timestamp"} {
		steps = append(steps, b.onlineKeysStep(role), b.thresholdStep(role), b.expiryStep(role))
	}
	return append(steps, b.saveStep(), b.reviewStep(s))
}

func (b *planBuilder) nameStep() *step {
	return &step{
		title:  "Name the repository",
		kind:   stepInput,
		prompt: "name: ",
		body: func(f *flow) string {
			return wrap("No plan file: the plan is built here, one question at a time, and checked as a plan file is. Every answer can be changed before the plan is agreed.\n\nFirst, the name of the repository, as the ceremony record will show it (e.g. example.org updates).", f.sh.width)
		},
		initial: func(f *flow) string { return b.draft.Name },
		submit: func(f *flow, v string) error {
			if v == "" {
				return retype("name: type the name of the repository")
			}
			b.draft.Name = v
			return b.check(parseDraft, hintRetype, "name")
		},
	}
}

// keyChoice is an option of a key list.
type keyChoice struct {
	done  bool
	typed bool // type a token URI or a public key file
	token *ceremony.TokenListing
}

// keysSoFar lists the keys of a role in the draft.
func (b *planBuilder) keysSoFar(f *flow, role string) string {
	st := f.sh.st
	r := b.roleDraft(role)
	if len(r.Keys) == 0 {
		return st.subtle.Render("No "+role+" key yet.") + "\n"
	}
	var out strings.Builder
	out.WriteString(st.heading.Render(fmt.Sprintf("%s keys so far (%d):", role, len(r.Keys))) + "\n")
	for i, k := range r.Keys {
		var line string
		switch k.Kind() {
		case ceremony.KeyKindToken:
			line = fmt.Sprintf("  %d. %-10s %s on %s", i+1, k.Custodian, k.TokenAlgorithm(), hsm.RedactURI(k.Token))
		case ceremony.KeyKindPublicKey:
			line = fmt.Sprintf("  %d. online key %s", i+1, k.PublicKey)
		default:
			line = fmt.Sprintf("  %d. existing key %s", i+1, ceremony.ShortID(k.Key))
		}
		out.WriteString(truncate(line, f.sh.width) + "\n")
	}
	return out.String()
}

// removeLast is the key that takes the last key of a list out again.
func (b *planBuilder) removeLast(role string) func(f *flow) []action {
	return func(f *flow) []action {
		r := b.roleDraft(role)
		if len(r.Keys) == 0 {
			return nil
		}
		return []action{{key: bind("x", "remove the last key"), run: func(f *flow) tea.Cmd {
			r.Keys = r.Keys[:len(r.Keys)-1]
			f.cursor = 0
			return nil
		}}}
	}
}

// usedBy says which keys of the draft a token URI already holds.
func (b *planBuilder) usedBy(uri string) string {
	var uses []string
	for _, role := range b.draft.RoleNames() {
		r := b.draft.Role(role)
		if r == nil {
			continue
		}
		for _, k := range r.Keys {
			if k.Token == uri {
				uses = append(uses, role+" key of "+k.Custodian)
			}
		}
	}
	if len(uses) == 0 {
		return ""
	}
	return "already in the plan: " + strings.Join(uses, ", ")
}

// tokenKeysStep lists the keys of root or targets and adds one: a token
// detected now (the list follows the tokens as they come and go) or a
// token URI typed in. Each new key inserts its steps (URI, custodian,
// algorithm) and this list again.
func (b *planBuilder) tokenKeysStep(role string) *step {
	return &step{
		title: "The " + role + " keys",
		kind:  stepChoose,
		body: func(f *flow) string {
			return b.keysSoFar(f, role) + "\n" + wrap("Each "+role+" key is generated on a custodian's token during this ceremony. Insert the custodian's token and choose it, or type its URI; choose \"done\" once every "+role+" key is listed.", f.sh.width)
		},
		options: func(f *flow) []option {
			n := len(b.roleDraft(role).Keys)
			opts := []option{{label: fmt.Sprintf("done: %s listed", plural(n, role+" key")), value: keyChoice{done: true}}}
			for _, l := range f.sh.tokens {
				o := option{label: tokenLine(l, f.sh.media.custodianOf(l)), value: keyChoice{token: &l}}
				switch {
				case l.Error != "":
					o.disabled, o.detail = true, "✗ cannot be read: "+l.Error
				default:
					o.detail = b.usedBy(l.Token.URI)
				}
				opts = append(opts, o)
			}
			return append(opts, option{label: "type a token URI (pkcs11:… or yubikey:…)", value: keyChoice{typed: true}})
		},
		actions: b.removeLast(role),
		choose: func(f *flow, o option) error {
			c := o.value.(keyChoice)
			b.role = role
			switch {
			case c.done:
				return b.check(parseDraft, hintChoose, "roles."+role+".keys")
			case c.typed:
				b.pending = ceremony.PlanKey{}
				f.insert(b.tokenURIStep(role), b.custodianStep(role, ""), b.algorithmStep(role), b.tokenKeysStep(role))
				return nil
			}
			b.pending = ceremony.PlanKey{Token: c.token.Token.URI}
			if err := b.withPending(parseDraft, hintChoose, ".token"); err != nil {
				return err
			}
			f.insert(b.custodianStep(role, f.sh.media.custodianOf(*c.token)), b.algorithmStep(role), b.tokenKeysStep(role))
			return nil
		},
	}
}

// withPending checks the draft with the pending key added as the next key
// of the role, for the fields of that key named by suffixes.
func (b *planBuilder) withPending(parse func([]byte) error, hint string, suffixes ...string) error {
	r := b.roleDraft(b.role)
	i := len(r.Keys)
	r.Keys = append(r.Keys, b.pending)
	defer func() { r.Keys = r.Keys[:i] }()
	var prefixes []string
	for _, s := range suffixes {
		prefixes = append(prefixes, keyField(b.role, i)+s)
	}
	return b.check(parse, hint, prefixes...)
}

func (b *planBuilder) tokenURIStep(role string) *step {
	return &step{
		title:  "Type the token URI of a " + role + " key",
		kind:   stepInput,
		prompt: "token URI: ",
		body: func(f *flow) string {
			return wrap("The token's address, as `tuf-ceremony tokens` prints it: pkcs11:token=LABEL?module-path=… (RFC 7512) or yubikey:serial=N. No PIN goes here: a plan holding pin-value=… is refused, and the PIN is asked when the key is used.", f.sh.width)
		},
		initial: func(f *flow) string { return b.pending.Token },
		submit: func(f *flow, v string) error {
			if v == "" {
				return retype("%s.token: type the token's URI", keyField(role, len(b.roleDraft(role).Keys)))
			}
			b.pending.Token = v
			return b.withPending(parseDraft, hintRetype, ".token")
		},
	}
}

func (b *planBuilder) custodianStep(role, guess string) *step {
	return &step{
		title:  "Name the custodian of this " + role + " key",
		kind:   stepInput,
		prompt: "custodian: ",
		body: func(f *flow) string {
			return truncate("The key is generated on "+hsm.RedactURI(b.pending.Token), f.sh.width) + "\n" +
				wrap("Whose token it is: the name the transcript, the keys and the ceremony record will show.", f.sh.width)
		},
		initial: func(f *flow) string {
			if b.pending.Custodian != "" {
				return b.pending.Custodian
			}
			return guess
		},
		submit: func(f *flow, v string) error {
			b.pending.Custodian = v
			return b.withPending(parseDraft, hintRetype, ".custodian")
		},
	}
}

func (b *planBuilder) algorithmStep(role string) *step {
	return &step{
		title: "Choose the algorithm of this " + role + " key",
		kind:  stepChoose,
		body: func(f *flow) string {
			return wrap("The default suits every TUF client; choose another only if the plan was agreed so.", f.sh.width)
		},
		options: func(f *flow) []option {
			var opts []option
			for i, a := range hsm.Algorithms {
				o := option{label: string(a), value: a}
				if i == 0 {
					o.label += " (default)"
				}
				if a == hsm.ECDSAP384 {
					o.detail = "rejected by tuf-js before 6.0.2"
				}
				opts = append(opts, o)
			}
			return opts
		},
		choose: func(f *flow, o option) error {
			a := o.value.(hsm.Algorithm)
			b.pending.Algorithm = ""
			if a != hsm.Algorithms[0] {
				b.pending.Algorithm = string(a)
			}
			if err := b.withPending(parseDraft, hintChoose, ""); err != nil {
				return err
			}
			r := b.roleDraft(role)
			r.Keys = append(r.Keys, b.pending)
			b.pending = ceremony.PlanKey{}
			return nil
		},
	}
}

// onlineKeysStep lists the online keys of snapshot or timestamp and adds
// one, as the public key file of a key whose private half lives on the
// online repository (e.g. in a cloud KMS).
func (b *planBuilder) onlineKeysStep(role string) *step {
	return &step{
		title: "The " + role + " keys (online)",
		kind:  stepChoose,
		body: func(f *flow) string {
			return b.keysSoFar(f, role) + "\n" + wrap("The "+role+" role is signed online, by keys whose private half stays on the online repository (e.g. in a cloud KMS). Give each one's public key (PEM) file.", f.sh.width)
		},
		options: func(f *flow) []option {
			n := len(b.roleDraft(role).Keys)
			return []option{
				{label: fmt.Sprintf("done: %s listed", plural(n, role+" key")), value: keyChoice{done: true}},
				{label: "add a public key file", value: keyChoice{typed: true}},
			}
		},
		actions: b.removeLast(role),
		choose: func(f *flow, o option) error {
			b.role = role
			if o.value.(keyChoice).done {
				return b.check(parseDraft, hintChoose, "roles."+role+".keys")
			}
			b.pending = ceremony.PlanKey{}
			f.insert(b.publicKeyStep(role), b.onlineKeysStep(role))
			return nil
		},
	}
}

func (b *planBuilder) publicKeyStep(role string) *step {
	var file string
	wd := cwd()
	return &step{
		title:  "Give the public key file of a " + role + " key",
		kind:   stepInput,
		prompt: "public key file: ",
		body: func(f *flow) string {
			return wrap("A PEM \"PUBLIC KEY\" file, e.g. from openssl pkey -pubout or the KMS's export. A relative path is from "+wd+".", f.sh.width)
		},
		initial: func(f *flow) string { return file },
		submit: func(f *flow, v string) error {
			file = v
			if v == "" {
				return retype("%s.public_key: type the path of the public key file", keyField(role, len(b.roleDraft(role).Keys)))
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			b.pending = ceremony.PlanKey{PublicKey: abs}
			return nil
		},
		run: func(f *flow) jobFunc {
			draft, role, pending := b.draft, role, b.pending
			draft.Roles = copyRoles(draft.Roles)
			return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
				c := &planBuilder{draft: draft, role: role, pending: pending}
				return nil, c.withPending(parseDraftFiles, hintRetype, "")
			}
		},
		done: func(f *flow, _ any) error {
			r := b.roleDraft(role)
			r.Keys = append(r.Keys, b.pending)
			b.pending = ceremony.PlanKey{}
			return nil
		},
	}
}

// copyRoles copies the roles' plans and key lists, for a job that reads
// them on its own goroutine.
func copyRoles(r ceremony.PlanRoles) ceremony.PlanRoles {
	cp := func(p *ceremony.RolePlan) *ceremony.RolePlan {
		if p == nil {
			return nil
		}
		c := *p
		c.Keys = append([]ceremony.PlanKey(nil), p.Keys...)
		return &c
	}
	return ceremony.PlanRoles{Root: cp(r.Root), Targets: cp(r.Targets), Snapshot: cp(r.Snapshot), Timestamp: cp(r.Timestamp)}
}

func (b *planBuilder) thresholdStep(role string) *step {
	field := "roles." + role + ".threshold"
	return &step{
		title:  "Set the " + role + " threshold",
		kind:   stepInput,
		prompt: "threshold: ",
		// One key: the threshold can only be 1.
		skip: func(f *flow) bool {
			r := b.roleDraft(role)
			if len(r.Keys) == 1 {
				r.Threshold = 1
				return true
			}
			return false
		},
		body: func(f *flow) string {
			n := len(b.roleDraft(role).Keys)
			return wrap(fmt.Sprintf("How many of the %s must sign %s metadata. A spare key above the threshold keeps the role usable when one is lost.", plural(n, role+" key"), role), f.sh.width)
		},
		initial: func(f *flow) string {
			r := b.roleDraft(role)
			if r.Threshold > 0 {
				return strconv.Itoa(r.Threshold)
			}
			return strconv.Itoa(len(r.Keys)/2 + 1)
		},
		submit: func(f *flow, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return retype("%s: must be a whole number, got %q", field, v)
			}
			b.roleDraft(role).Threshold = n
			return b.check(parseDraft, hintRetype, field)
		},
	}
}

func (b *planBuilder) expiryStep(role string) *step {
	field := "roles." + role + ".expires"
	return &step{
		title:  "How long " + role + " metadata is valid",
		kind:   stepInput,
		prompt: "expires: ",
		body: func(f *flow) string {
			return wrap("A whole number and a unit: m (minutes), h (hours), d (days) or w (weeks), e.g. 365d or 26w. Each signed version of "+role+" expires this long after it is signed.", f.sh.width)
		},
		initial: func(f *flow) string {
			if d := b.roleDraft(role).Expires; d > 0 {
				return d.String()
			}
			return roleExpiryDefault[role]
		},
		submit: func(f *flow, v string) error {
			d, err := ceremony.ParseDuration(v)
			if err != nil {
				return retype("%s: %v", field, err)
			}
			b.roleDraft(role).Expires = d
			return b.check(parseDraft, hintRetype, field)
		},
	}
}

// defaultPlanPath is where a built plan is saved unless the custodians say
// otherwise: ceremony.yaml next to the medium (the medium itself holds the
// copy init makes).
func defaultPlanPath(media string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(media)), ceremony.PlanFile)
}

// saveStep asks where the plan goes and checks the whole plan as it will
// be saved there; an existing file is replaced only if the custodians say
// so.
func (b *planBuilder) saveStep() *step {
	return &step{
		title:  "Choose where to save the plan",
		kind:   stepInput,
		prompt: "plan file: ",
		body: func(f *flow) string {
			return wrap("The plan is saved as a file before the keys are made, and copied onto the medium. Public key files in the same directory are written relative to it.", f.sh.width)
		},
		initial: func(f *flow) string {
			if b.path != "" {
				return b.path
			}
			return defaultPlanPath(f.media)
		},
		submit: func(f *flow, v string) error {
			if v == "" {
				return errors.New("type where to save the plan")
			}
			b.path = v
			return nil
		},
		run: func(f *flow) jobFunc {
			path, draft, media := b.path, b.draft, f.media
			draft.Roles = copyRoles(draft.Roles)
			return func(ctx context.Context, p ceremony.Prompter) (any, error) {
				return finishPlan(ctx, p, path, media, draft)
			}
		},
		done: func(f *flow, res any) error {
			bp := res.(builtPlan)
			b.path, b.data, b.checked, b.replace, b.replaced = bp.path, bp.data, bp.plan, bp.replace, bp.replaced
			return nil
		},
	}
}

// finishPlan writes the draft as it will be saved at path (public key
// files under the plan's directory relative to it), checks it whole as
// LoadPlan will, checks that the plan can be saved there, and asks before
// replacing an existing file.
func finishPlan(ctx context.Context, p ceremony.Prompter, path, media string, draft ceremony.Plan) (builtPlan, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return builtPlan{}, err
	}
	dir := filepath.Dir(path)
	if m, err := filepath.Abs(media); err == nil && (dir == m || strings.HasPrefix(dir, m+string(filepath.Separator))) {
		return builtPlan{}, retype("%s is on the medium, which only tuf-ceremony writes (init copies the plan there): save it outside, e.g. %s", path, defaultPlanPath(m))
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return builtPlan{}, retype("%s is not a directory: type where to save the plan", dir)
	}
	probe, err := os.CreateTemp(dir, ".tuf-ceremony-probe-*")
	if err != nil {
		return builtPlan{}, retype("cannot save the plan in %s: %v", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	for _, role := range draft.RoleNames() {
		r := draft.Role(role)
		if r == nil {
			continue
		}
		for i, k := range r.Keys {
			if k.PublicKey == "" || !filepath.IsAbs(k.PublicKey) {
				continue
			}
			if rel, err := filepath.Rel(dir, k.PublicKey); err == nil && filepath.IsLocal(rel) {
				r.Keys[i].PublicKey = rel
			}
		}
	}
	data, err := draft.Marshal()
	if err != nil {
		return builtPlan{}, err
	}
	plan, err := ceremony.ParsePlanAt(data, dir)
	if err != nil {
		return builtPlan{}, err
	}
	// init keeps a plan already on the medium: it must be this one.
	if old, err := os.ReadFile(filepath.Join(media, ceremony.PlanFile)); err == nil && !bytes.Equal(old, data) {
		return builtPlan{}, &planProblems{
			problems: []string{fmt.Sprintf("the medium already holds another plan (%s), which the new repository would keep", filepath.Join(media, ceremony.PlanFile))},
			hint:     "open that plan instead (esc, then n), or start from a medium without one",
		}
	}
	bp := builtPlan{path: path, data: data, plan: plan}
	if fi, err := os.Lstat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return builtPlan{}, retype("%s exists and is not a regular file: type another path", path)
		}
		old, err := os.ReadFile(path)
		if err != nil {
			return builtPlan{}, err
		}
		if !bytes.Equal(old, data) {
			ok, err := p.Confirm(ctx, path+" exists and holds something else. Replace it with the plan built here?")
			if err != nil {
				return builtPlan{}, err
			}
			if !ok {
				return builtPlan{}, retype("%s was kept: type another path", path)
			}
		}
		bp.replace, bp.replaced = true, old
	} else if !errors.Is(err, os.ErrNotExist) {
		return builtPlan{}, err
	}
	return bp, nil
}

// reviewStep is the plan read aloud: agreed, it is saved and loaded back
// as a plan file; or edited, through the builder's steps again.
func (b *planBuilder) reviewStep(s *initState) *step {
	return &step{
		title: "Read the plan aloud",
		kind:  stepAck,
		body: func(f *flow) string {
			st := f.sh.st
			fp := ceremony.FingerprintOf(b.data)
			return planText(st, b.checked, f.sh.width) + "\n" +
				truncate("To be saved as "+b.path, f.sh.width) + "\n" +
				truncate("Fingerprint of the plan: "+st.words.Render(fp.Short), f.sh.width) + "\n"
		},
		ack: func(f *flow) string {
			fp := ceremony.FingerprintOf(b.data)
			return "plan built in the TUI, sha256 " + fp.SHA256 + ", read aloud and agreed; saved as " + b.path
		},
		actions: func(f *flow) []action {
			return []action{{key: bind("e", "edit the plan"), run: func(f *flow) tea.Cmd { return b.edit(f, s) }}}
		},
		finalKey: "everyone agrees",
		// A plan that cannot be saved: r goes back to its path.
		retryPrev: true,
		run: func(f *flow) jobFunc {
			path, data, replace, replaced := b.path, b.data, b.replace, b.replaced
			return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
				lp, err := saveAndLoadPlan(path, data, replace, replaced)
				if err != nil {
					return nil, &planSaveError{err}
				}
				return lp, nil
			}
		},
		done: func(f *flow, res any) error {
			lp := res.(loadedPlan)
			s.planPath, s.plan, s.planBytes, s.built = lp.path, lp.plan, lp.bytes, true
			return nil
		},
	}
}

// planSaveError is a plan that could not be saved or loaded back.
type planSaveError struct{ err error }

func (e *planSaveError) Error() string { return e.err.Error() }
func (e *planSaveError) Unwrap() error { return e.err }
func (e *planSaveError) Hints() []string {
	return []string{"press r to give another path (the plan built is kept), then read it aloud again"}
}

// saveAndLoadPlan saves the plan and loads it back exactly as a plan file
// is loaded; the bytes loaded must be the bytes agreed. A file replaced
// must still hold what it held when the custodians agreed to replace it.
func saveAndLoadPlan(path string, data []byte, replace bool, replaced []byte) (loadedPlan, error) {
	if replace {
		cur, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return loadedPlan{}, err
		case !bytes.Equal(cur, replaced):
			return loadedPlan{}, fmt.Errorf("%s changed since you agreed to replace it: nothing was saved", path)
		}
	}
	if err := ceremony.SavePlan(path, data, replace); err != nil {
		return loadedPlan{}, err
	}
	plan, err := ceremony.LoadPlan(path)
	if err != nil {
		return loadedPlan{}, err
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return loadedPlan{}, err
	}
	if !bytes.Equal(got, data) {
		return loadedPlan{}, fmt.Errorf("%s changed while it was saved: check who else writes there", path)
	}
	return loadedPlan{path: path, plan: plan, bytes: got}, nil
}

// edit goes through the builder's steps again, from the name, with every
// value given so far.
func (b *planBuilder) edit(f *flow, s *initState) tea.Cmd {
	end := f.cur + 1 // the review step is the builder's last
	rest := append([]*step{}, f.steps[end:]...)
	f.steps = append(append(f.steps[:b.first], b.steps(s)...), rest...)
	f.cur = b.first
	return f.start()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "the working directory"
	}
	return d
}
