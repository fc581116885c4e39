package ceremony

import (
	"encoding/json"
	"path/filepath"
	"runtime/debug"
	"sync"
)

// BuildInfo says exactly which binary ran: its version, the Go version and
// every module dependency with its checksum.
type BuildInfo struct {
	Version   string       `json:"version"`
	GoVersion string       `json:"go_version"`
	Path      string       `json:"path"`
	Settings  []Setting    `json:"settings,omitempty"`
	Deps      []Dependency `json:"deps"`
}

// Setting is a build setting (CGO_ENABLED, -trimpath, GOOS, …).
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Dependency is a module the binary was built with.
type Dependency struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum"`
}

// ReadBuildInfo describes the running binary; version is the release
// version stamped at build time ("dev" otherwise).
func ReadBuildInfo(version string) BuildInfo {
	b := BuildInfo{Version: version, Deps: []Dependency{}}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion, b.Path = info.GoVersion, info.Path
	for _, s := range info.Settings {
		b.Settings = append(b.Settings, Setting{Key: s.Key, Value: s.Value})
	}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		b.Deps = append(b.Deps, Dependency{Path: d.Path, Version: d.Version, Sum: d.Sum})
	}
	return b
}

// session is the binary that runs this process; the first change the
// process makes to a workspace records it in the transcript.
var session struct {
	sync.Mutex
	info     *BuildInfo
	recorded map[string]bool // workspace directories
}

// SetSession names the binary that runs this process, for the transcript.
func SetSession(b BuildInfo) {
	session.Lock()
	defer session.Unlock()
	session.info = &b
	session.recorded = map[string]bool{}
}

// sessionEntry returns the "session" transcript entry to record before
// this process's first change to dir, or nil.
func sessionEntry(dir string) *Entry {
	session.Lock()
	defer session.Unlock()
	if session.info == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil || session.recorded[abs] {
		return nil
	}
	data, err := json.Marshal(session.info)
	if err != nil {
		return nil
	}
	return &Entry{Event: "session", Data: data}
}

// sessionRecorded notes that dir's transcript now names this process.
func sessionRecorded(dir string) {
	session.Lock()
	defer session.Unlock()
	if abs, err := filepath.Abs(dir); err == nil && session.recorded != nil {
		session.recorded[abs] = true
	}
}
