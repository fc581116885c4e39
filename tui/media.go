package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// mediaInfo is what the medium holds, read in a command.
type mediaInfo struct {
	dir string
	// read is set once the directory has been read.
	read bool
	// exists: a workspace; usable: could become one (empty or absent).
	exists bool
	usable bool
	err    error
	// published versions, by role, ascending
	versions map[string][]int64
	expires  map[string]time.Time // of the newest published version
	status   []ceremony.ProposalStatus
	// names maps key IDs to custodians; records are the keys/ records.
	names   map[string]string
	records map[string]*ceremony.KeyRecord
	hasPlan bool
	// rootRoles is the newest root's key IDs by role (for rotations).
	rootRoles      map[string][]string
	rootThresholds map[string]int
}

// readMediaInfo reads a medium without changing it (unless an interrupted
// change is pending, which opening it completes).
func readMediaInfo(dir string, now func() time.Time) mediaInfo {
	mi := mediaInfo{dir: dir, read: true}
	if dir == "" {
		return mi
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		mi.usable = true
		return mi
	case err != nil:
		mi.err = err
		return mi
	case !st.IsDir():
		mi.err = fmt.Errorf("%s is not a directory", dir)
		return mi
	}
	if _, err := os.Stat(filepath.Join(dir, ceremony.TranscriptFile)); err != nil {
		entries, err := os.ReadDir(dir)
		if err != nil {
			mi.err = err
			return mi
		}
		mi.usable = true
		for _, e := range entries {
			if n := e.Name(); n != "lost+found" && n != "System Volume Information" {
				mi.usable = false
				mi.err = fmt.Errorf("%s is neither empty nor a tuf-ceremony workspace", dir)
			}
		}
		return mi
	}
	ws, err := ceremony.OpenWorkspace(dir)
	if err != nil {
		mi.err = err
		return mi
	}
	ws.Now = now
	mi.exists = true
	mi.hasPlan = fileExists(ws.Path(ceremony.PlanFile))
	if err := mi.readWorkspace(ws); err != nil {
		mi.err = err
	}
	return mi
}

func (mi *mediaInfo) readWorkspace(ws *ceremony.Workspace) error {
	mi.versions = map[string][]int64{}
	mi.expires = map[string]time.Time{}
	mi.records = map[string]*ceremony.KeyRecord{}
	files, err := ws.List(ceremony.MetadataDir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if role, v, ok := ceremony.ParseVersionedName(f); ok {
			mi.versions[role] = append(mi.versions[role], v)
		}
	}
	for role, vs := range mi.versions {
		sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
		data, err := ws.ReadFile(path.Join(ceremony.MetadataDir, ceremony.VersionedName(role, vs[len(vs)-1])))
		if err != nil {
			return err
		}
		env, err := ceremony.ParseEnvelope(data)
		if err != nil {
			return err
		}
		h, err := env.Header()
		if err != nil {
			return err
		}
		mi.expires[role] = h.Expires
	}
	latest, err := ws.LatestRoot()
	if err != nil {
		return err
	}
	if latest != nil {
		mi.rootRoles = map[string][]string{}
		mi.rootThresholds = map[string]int{}
		for name, r := range latest.Signed.Roles {
			mi.rootRoles[name] = append([]string{}, r.KeyIDs...)
			mi.rootThresholds[name] = r.Threshold
		}
	}
	if mi.names, err = ws.Custodians(latest); err != nil {
		return err
	}
	keyFiles, err := ws.List(ceremony.KeysDir)
	if err != nil {
		return err
	}
	for _, f := range keyFiles {
		id, ok := strings.CutSuffix(f, ".json")
		if !ok {
			continue
		}
		if rec, err := ws.ReadKeyRecord(id); err == nil {
			mi.records[id] = rec
		}
	}
	mi.status, err = ceremony.Status(ws)
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// custodianOf names whose token a listing is: from its keys, then from
// the token serials recorded with keys.
func (mi *mediaInfo) custodianOf(l ceremony.TokenListing) string {
	for _, k := range l.Keys {
		if n := mi.names[k.KeyID]; n != "" && k.KeyID != "" {
			return n
		}
	}
	for _, rec := range mi.records {
		if rec.Token != nil && rec.Token.Serial == l.Token.Serial && rec.Token.Backend == l.Token.Backend && rec.Token.Serial != "" {
			return rec.Custodian
		}
	}
	return ""
}

// mediaScreen asks for the medium's directory.
type mediaScreen struct {
	sh    *shared
	input textinput.Model
	err   error
}

func newMediaScreen(sh *shared) *mediaScreen {
	in := textinput.New()
	in.Prompt = "media directory: "
	in.Placeholder = "/media/usb/ceremony"
	in.CharLimit = 4096
	in.SetValue(sh.media.dir)
	in.Focus()
	return &mediaScreen{sh: sh, input: in}
}

func (m *mediaScreen) busy() bool { return false }

func (m *mediaScreen) help() []key.Binding {
	return []key.Binding{bind("enter", "use this directory"), keys.Back}
}

func (m *mediaScreen) update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(k, keys.Back):
			return func() tea.Msg { return mediaChosenMsg{dir: m.sh.media.dir} }
		case key.Matches(k, keys.Enter):
			dir := strings.TrimSpace(m.input.Value())
			if dir == "" {
				m.err = errors.New("type the directory of the workspace on the removable medium")
				return nil
			}
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
			return func() tea.Msg { return mediaChosenMsg{dir: dir} }
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return cmd
}

func (m *mediaScreen) view() string {
	sh := m.sh
	var b strings.Builder
	b.WriteString(sh.header("tuf-ceremony · choose the medium") + "\n\n")
	b.WriteString(wrap("The medium is the directory of the ceremony workspace: usually a folder on a USB stick that goes from the ceremony machine to the other custodians and to the online repository. An empty directory (or a new path) becomes a new workspace.", sh.width) + "\n\n")
	m.input.Width = sh.width - len(m.input.Prompt) - 2
	b.WriteString(m.input.View() + "\n")
	if m.err != nil {
		b.WriteString("\n" + sh.st.bad.Render("error: ") + m.err.Error() + "\n")
	}
	return b.String()
}
