package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The workspace layout, relative to the workspace root. Paths given to a
// Workspace use forward slashes on every platform.
const (
	PlanFile       = "ceremony.yaml"    // the plan (optional)
	MetadataDir    = "metadata"         // published metadata, served as-is
	StagedDir      = "staged"           // proposals waiting for signatures
	KeysDir        = "keys"             // <keyid>.json, one per key
	TranscriptFile = "transcript.jsonl" // append-only, hash-chained log; marks a workspace
	SumsFile       = "SHA256SUMS"       // of every other file of the layout
)

// journalFile lists the renames and removals of a commit that has passed
// its point of no return; its presence means "roll forward".
const journalFile = ".pending.json"

// layoutDirs are the directories of the layout, in the order Commit creates
// them.
var layoutDirs = []string{MetadataDir, StagedDir, KeysDir}

const (
	filePerm fs.FileMode = 0o644
	dirPerm  fs.FileMode = 0o755
)

var (
	// ErrNoWorkspace is returned for a directory that exists but is not a
	// workspace (or, by OpenOrNewWorkspace, cannot become one).
	ErrNoWorkspace = errors.New("not a tuf-ceremony workspace")
	// ErrWriteOnce is returned by Commit for a Replace or Remove of a
	// published versioned metadata file (metadata/N.*) or a key (keys/*)
	// that already exists.
	ErrWriteOnce = errors.New("file is write-once")
	// ErrMediaUnusable is a --media path that cannot hold a workspace:
	// not a directory, or not writable.
	ErrMediaUnusable = errors.New("unusable media directory")
	// ErrSumsMismatch is returned by VerifySums.
	ErrSumsMismatch = errors.New("SHA256SUMS does not match the workspace")
)

// errSimulatedCrash, returned by commitHook, makes Commit stop dead, as if
// the process had been killed: no clean-up, only the lock is released.
var errSimulatedCrash = errors.New("simulated crash")

// commitHook, when set (by tests), is called after each step of Commit and
// of the roll-forward of a journal; an error stops Commit there.
var commitHook func(step string) error

// Workspace is a ceremony workspace: a directory, usually on removable
// media, holding the plan, published and staged metadata, public keys, the
// transcript and SHA256SUMS (see the Layout constants).
//
// Reads go straight to the files. Every change goes through a Tx, which is
// all-or-nothing even across a crash or a pulled USB stick, appends to the
// transcript and rewrites SHA256SUMS.
type Workspace struct {
	// Dir is the workspace root.
	Dir string
	// Now gives the time recorded in transcript entries; nil means
	// time.Now.
	Now func() time.Time

	// existed is set when the workspace was opened as an existing one, so
	// that a transcript that has since vanished is an error rather than a
	// fresh start.
	existed bool
}

// OpenWorkspace opens an existing workspace: a directory that holds
// transcript.jsonl. It first completes any change that an interrupted
// command left behind. A missing dir gives an error that wraps
// fs.ErrNotExist; a dir that is not a workspace one that wraps
// ErrNoWorkspace.
//
// OpenWorkspace writes nothing unless there is an interrupted change to
// complete, so it works on read-only media.
func OpenWorkspace(dir string) (*Workspace, error) {
	w := &Workspace{Dir: filepath.Clean(dir)}
	fi, err := os.Stat(w.Dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open workspace: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: %w", w.Dir, ErrNoWorkspace)
	}
	if err := w.recover(); err != nil {
		return nil, err
	}
	ok, err := w.exists()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s has no %s: %w", w.Dir, TranscriptFile, ErrNoWorkspace)
	}
	w.existed = true
	return w, nil
}

// OpenOrNewWorkspace opens dir if it is a workspace, and otherwise returns
// a Workspace whose first Commit creates it (Exists reports false until
// then). It creates nothing itself, but fails early when the workspace
// could not be written: when dir (or, if dir does not exist, its nearest
// existing ancestor) is not a writable directory, and when dir is neither a
// workspace nor empty, so that a wrong --media never scribbles into
// someone's home directory. A "lost+found" or "System Volume Information"
// directory, which formatting leaves on fresh media, counts as empty.
func OpenOrNewWorkspace(dir string) (*Workspace, error) {
	w := &Workspace{Dir: filepath.Clean(dir)}
	fi, err := os.Stat(w.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		anc := existingAncestor(w.Dir)
		if fi, err := os.Stat(anc); err != nil || !fi.IsDir() {
			return nil, mediaError{fmt.Errorf("cannot create workspace %s: %s is not a directory", w.Dir, anc)}
		}
		if err := checkWritable(anc); err != nil {
			return nil, mediaError{fmt.Errorf("cannot create workspace %s: %w", w.Dir, err)}
		}
		return w, nil
	case err != nil:
		return nil, fmt.Errorf("failed to open workspace: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory: %w", w.Dir, ErrNoWorkspace)
	}
	if err := checkWritable(w.Dir); err != nil {
		return nil, mediaError{err}
	}
	ok, err := w.exists()
	if err != nil {
		return nil, err
	}
	if !ok && !w.fileExists(journalFile) {
		ours, err := w.onlyOurs()
		if err != nil {
			return nil, err
		}
		if !ours {
			return nil, fmt.Errorf("%s is not empty: %w", w.Dir, ErrNoWorkspace)
		}
	}
	if err := w.recover(); err != nil {
		return nil, err
	}
	if w.existed, err = w.exists(); err != nil {
		return nil, err
	}
	return w, nil
}

// Exists reports whether the workspace exists on disk, i.e. has a
// transcript.
func (w *Workspace) Exists() bool {
	ok, _ := w.exists()
	return ok
}

func (w *Workspace) exists() (bool, error) {
	fi, err := os.Lstat(w.Path(TranscriptFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !fi.Mode().IsRegular():
		return false, fmt.Errorf("%s is not a regular file", w.Path(TranscriptFile))
	}
	return true, nil
}

func (w *Workspace) fileExists(rel string) bool {
	_, err := os.Lstat(w.Path(rel))
	return err == nil
}

// Path returns the file system path of a workspace-relative path.
func (w *Workspace) Path(rel string) string {
	return filepath.Join(w.Dir, filepath.FromSlash(rel))
}

func (w *Workspace) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// ReadFile reads a file of the layout (ceremony.yaml, metadata/NAME,
// staged/NAME, keys/NAME, transcript.jsonl or SHA256SUMS). It refuses
// symlinks and anything else that is not a regular file.
func (w *Workspace) ReadFile(rel string) ([]byte, error) {
	if rel != TranscriptFile && rel != SumsFile {
		if err := checkLayoutPath(rel); err != nil {
			return nil, err
		}
	}
	return w.readRegular(rel)
}

// readRegular reads a regular file of the layout without following
// symlinks, neither in the file name nor in its layout directory.
func (w *Workspace) readRegular(rel string) ([]byte, error) {
	f, err := w.openRegular(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Metadata on a medium may be hostile: a huge file is refused before
	// anything is read, so memory stays bounded.
	if dir := path.Dir(rel); dir == MetadataDir || dir == StagedDir || dir == KeysDir {
		if fi, err := f.Stat(); err == nil && fi.Size() > MaxMetadataSize {
			return nil, fmt.Errorf("%s: %d bytes exceeds the %d byte limit", rel, fi.Size(), MaxMetadataSize)
		}
		return readAllSized(f, MaxMetadataSize+1)
	}
	return readAllSized(f, math.MaxInt64)
}

// readAllSized reads f to its end, at most limit bytes, into a buffer of
// the size f has now (io.ReadAll grows its buffer step by step, which
// costs twice a large file's size); a file that grows meanwhile is read
// whole all the same.
func readAllSized(f *os.File, limit int64) ([]byte, error) {
	size := int64(0)
	if fi, err := f.Stat(); err == nil {
		size = min(fi.Size(), limit)
	}
	r := io.LimitReader(f, limit)
	buf := make([]byte, 0, size+1) // +1: reading EOF needs no larger buffer
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// holds reports whether the file rel has exactly the content want,
// compared piece by piece rather than by reading it whole.
func (w *Workspace) holds(rel string, want []byte) (bool, error) {
	f, err := w.openRegular(rel)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(f, buf)
		if n > len(want) || !bytes.Equal(buf[:n], want[:n]) {
			return false, nil
		}
		want = want[n:]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return len(want) == 0, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func (w *Workspace) openRegular(rel string) (*os.File, error) {
	if dir := path.Dir(rel); dir != "." {
		if err := w.checkLayoutDir(dir); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(w.Path(rel), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink, not a regular file", rel)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", rel)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkLayoutDir returns an error if dir (metadata, staged or keys) exists
// but is not a real directory (a symlink, for one).
func (w *Workspace) checkLayoutDir(dir string) error {
	fi, err := os.Lstat(w.Path(dir))
	if err != nil || fi.IsDir() {
		return nil // a missing directory is reported by whoever opens a file in it
	}
	return fmt.Errorf("%s is not a directory", w.Path(dir))
}

// List returns the names of the files in a layout directory (metadata,
// staged or keys), sorted; none if the directory does not exist. Hidden
// files (a leading dot) are not part of the layout and are not listed.
func (w *Workspace) List(relDir string) ([]string, error) {
	relDir = strings.TrimSuffix(relDir, "/")
	if !isLayoutDir(relDir) {
		return nil, fmt.Errorf("invalid workspace directory %q: must be %s, %s or %s", relDir, MetadataDir, StagedDir, KeysDir)
	}
	return w.dirFiles(relDir)
}

// dirFiles lists the regular, non-hidden files of a layout directory. Any
// other non-hidden entry is an error: the layout has no subdirectories.
func (w *Workspace) dirFiles(dir string) ([]string, error) {
	if err := w.checkLayoutDir(dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(w.Path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("%s/%s is not a regular file", dir, name)
		}
		if err := checkFileName(name); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, name, err)
		}
		names = append(names, name)
	}
	slices.Sort(names) // os.ReadDir sorts already; be explicit
	return names, nil
}

// layoutFiles lists every file that SHA256SUMS covers, as relative paths:
// ceremony.yaml if present, metadata/*, staged/*, keys/* and
// transcript.jsonl if present.
func (w *Workspace) layoutFiles() ([]string, error) {
	var files []string
	for _, rel := range []string{PlanFile, TranscriptFile} {
		fi, err := os.Lstat(w.Path(rel))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("%s is not a regular file", rel)
		}
		files = append(files, rel)
	}
	for _, dir := range layoutDirs {
		names, err := w.dirFiles(dir)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			files = append(files, dir+"/"+n)
		}
	}
	slices.Sort(files)
	return files, nil
}

// hashFiles returns the hex SHA-256 of every layout file on disk except
// those skip reports.
func (w *Workspace) hashFiles(skip func(rel string) bool) (map[string]string, error) {
	files, err := w.layoutFiles()
	if err != nil {
		return nil, err
	}
	sums := make(map[string]string, len(files))
	for _, rel := range files {
		if skip != nil && skip(rel) {
			continue
		}
		f, err := w.openRegular(rel)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", rel, err)
		}
		sums[rel] = hex.EncodeToString(h.Sum(nil))
	}
	return sums, nil
}

// formatSums renders sums in the format of sha256sum(1), sorted by path.
func formatSums(sums map[string]string) []byte {
	var b bytes.Buffer
	for _, rel := range slices.Sorted(maps.Keys(sums)) {
		fmt.Fprintf(&b, "%s  %s\n", sums[rel], rel)
	}
	return b.Bytes()
}

// parseSums parses SHA256SUMS as formatSums writes it.
func parseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%s: incomplete last line", SumsFile)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" && len(data) == 0 {
			break
		}
		sum, rel, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != sha256.Size*2 || strings.ToLower(sum) != sum || rel == "" {
			return nil, fmt.Errorf("%s line %d: malformed", SumsFile, i+1)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("%s line %d: malformed", SumsFile, i+1)
		}
		if _, dup := sums[rel]; dup {
			return nil, fmt.Errorf("%s line %d: %s is listed twice", SumsFile, i+1, rel)
		}
		sums[rel] = sum
	}
	return sums, nil
}

// VerifySums recomputes the checksums of the workspace's files and compares
// them with SHA256SUMS. The error (wrapping ErrSumsMismatch) names the
// first file, in path order, that differs, is missing or is not listed.
func (w *Workspace) VerifySums() error {
	data, err := w.readRegular(SumsFile)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", SumsFile, err)
	}
	listed, err := parseSums(data)
	if err != nil {
		return err
	}
	actual, err := w.hashFiles(nil)
	if err != nil {
		return err
	}
	all := slices.Sorted(maps.Keys(listed))
	for rel := range actual {
		if _, ok := listed[rel]; !ok {
			all = append(all, rel)
		}
	}
	slices.Sort(all)
	for _, rel := range all {
		want, inListed := listed[rel]
		got, inActual := actual[rel]
		switch {
		case !inActual:
			return fmt.Errorf("%w: %s is missing", ErrSumsMismatch, rel)
		case !inListed:
			return fmt.Errorf("%w: %s is not listed", ErrSumsMismatch, rel)
		case want != got:
			return fmt.Errorf("%w: %s has changed", ErrSumsMismatch, rel)
		}
	}
	return nil
}

// isLayoutDir reports whether name is one of the layout's directories.
func isLayoutDir(name string) bool {
	return slices.Contains(layoutDirs, name)
}

// checkLayoutPath validates a workspace-relative path of a file that a Tx
// may write: ceremony.yaml, or a plain file name in metadata/, staged/ or
// keys/.
func checkLayoutPath(rel string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid workspace path %q: %s", rel, why)
	}
	switch {
	case rel == "":
		return bad("empty")
	case strings.HasPrefix(rel, "/") || filepath.IsAbs(rel):
		return bad("must be relative")
	case slices.Contains(strings.Split(rel, "/"), ".."):
		return bad(`must not contain ".."`)
	case rel == TranscriptFile || rel == SumsFile:
		return bad("only Commit writes it")
	case rel == PlanFile:
		return nil
	}
	dir, name, ok := strings.Cut(rel, "/")
	if !ok || !isLayoutDir(dir) || name == "" || name == "." || strings.Contains(name, "/") {
		return bad(fmt.Sprintf("must be %s or a file name in %s/, %s/ or %s/", PlanFile, MetadataDir, StagedDir, KeysDir))
	}
	if err := checkFileName(name); err != nil {
		return bad(err.Error())
	}
	return nil
}

// checkFileName rejects names that are hidden (reserved for temporary
// files) or that sha256sum(1) would have to escape.
func checkFileName(name string) error {
	if strings.HasPrefix(name, ".") {
		return errors.New(`file name must not start with "."`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return errors.New("file name contains a control character or a backslash")
		}
	}
	return nil
}

// isWriteOnce reports whether rel, once it exists, may never be replaced
// or removed: a key, or a versioned published metadata file (N.root.json,
// N.targets.json, …). Unversioned metadata/root.json and the like are
// replaced on every publish.
func isWriteOnce(rel string) bool {
	dir, name, _ := strings.Cut(rel, "/")
	switch dir {
	case KeysDir:
		return true
	case MetadataDir:
		digits, _, ok := strings.Cut(name, ".")
		return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
	}
	return false
}

// mediaError marks an error as ErrMediaUnusable without changing its text.
type mediaError struct{ err error }

func (e mediaError) Error() string        { return e.err.Error() }
func (e mediaError) Unwrap() error        { return e.err }
func (e mediaError) Is(target error) bool { return target == ErrMediaUnusable }

// existingAncestor returns the nearest ancestor of dir (a clean path) that
// exists, whatever its type.
func existingAncestor(dir string) string {
	for p := dir; ; {
		if _, err := os.Lstat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

// checkWritable checks that a file can be created in dir, by creating and
// removing one.
func checkWritable(dir string) error {
	f, err := createTemp(dir, 0o600)
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	return nil
}

// onlyOurs reports whether the directory holds nothing but what an
// interrupted first Commit can leave behind (the lock file, empty layout
// directories, temporary files) and file-system artefacts of fresh media.
func (w *Workspace) onlyOurs() (bool, error) {
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == lockFile || name == journalFile || isTempName(name):
		case name == "lost+found" || name == "System Volume Information":
		case isLayoutDir(name) && e.IsDir():
			sub, err := os.ReadDir(w.Path(name))
			if err != nil {
				return false, err
			}
			for _, s := range sub {
				if !isTempName(s.Name()) {
					return false, nil
				}
			}
		default:
			return false, nil
		}
	}
	return true, nil
}

// tempFiles lists the temporary files in the workspace root and layout
// directories, as relative paths.
func (w *Workspace) tempFiles() []string {
	var temps []string
	for _, dir := range append([]string{"."}, layoutDirs...) {
		if dir != "." {
			if fi, err := os.Lstat(w.Path(dir)); err != nil || !fi.IsDir() {
				continue
			}
		}
		entries, err := os.ReadDir(w.Path(dir))
		if err != nil {
			continue
		}
		for _, e := range entries {
			if isTempName(e.Name()) && e.Type().IsRegular() {
				temps = append(temps, path.Join(dir, e.Name()))
			}
		}
	}
	return temps
}

// recover completes a change that an interrupted Commit left behind (a
// journal) and deletes leftover temporary files. It takes the lock only if
// there is something to do. Leftover temporary files alone are harmless,
// so when they cannot be deleted (read-only media, or another process
// holds the lock and may still be writing them) they are left alone.
func (w *Workspace) recover() error {
	pending := w.fileExists(journalFile)
	if !pending && len(w.tempFiles()) == 0 {
		return nil
	}
	lock, _, err := lockDir(w.Dir)
	switch {
	case err != nil && !pending:
		return nil
	case errors.Is(err, ErrWorkspaceLocked):
		return err
	case err != nil:
		return fmt.Errorf("failed to complete a change that an interrupted command left behind: %w", err)
	}
	defer lock.Close()
	return w.recoverLocked()
}

// recoverLocked is recover for a caller that holds the lock.
func (w *Workspace) recoverLocked() error {
	data, err := w.readRegular(journalFile)
	switch {
	case err == nil:
		j, err := parseJournal(data)
		if err != nil {
			return fmt.Errorf("cannot complete a change that an interrupted command left behind: %s: %w", journalFile, err)
		}
		if err := w.applyJournal(j, nil); err != nil {
			return fmt.Errorf("failed to complete a change that an interrupted command left behind: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("failed to read %s: %w", journalFile, err)
	}
	dirs := map[string]bool{}
	for _, t := range w.tempFiles() {
		if err := os.Remove(w.Path(t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("failed to remove temporary file: %w", err)
		}
		dirs[path.Dir(t)] = true
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := syncDir(w.Path(d)); err != nil {
			return err
		}
	}
	return nil
}

// journal is the content of .pending.json: the steps that make a commit's
// temporary files the workspace's files, in order. Paths are relative to
// the workspace root, so media mounted elsewhere still recover.
type journal struct {
	Version int           `json:"version"`
	Steps   []journalStep `json:"steps"`
}

// journalStep is either a rename of a temporary file over its target or a
// removal.
type journalStep struct {
	Rename string `json:"rename,omitempty"`
	To     string `json:"to,omitempty"`
	Remove string `json:"remove,omitempty"`
}

// parseJournal decodes and validates a journal, so that a tampered one
// cannot rename or remove anything outside the layout.
func parseJournal(data []byte) (*journal, error) {
	var j journal
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if j.Version != 1 {
		return nil, fmt.Errorf("unsupported version %d", j.Version)
	}
	for i, s := range j.Steps {
		var err error
		switch {
		case s.Remove != "" && s.Rename == "" && s.To == "":
			err = checkLayoutPath(s.Remove)
		case s.Remove == "" && s.Rename != "" && s.To != "":
			if s.To != TranscriptFile && s.To != SumsFile {
				err = checkLayoutPath(s.To)
			}
			if err == nil && (s.Rename != path.Join(path.Dir(s.To), path.Base(s.Rename)) || !isTempName(path.Base(s.Rename))) {
				err = fmt.Errorf("%q is not a temporary file next to %q", s.Rename, s.To)
			}
		default:
			err = errors.New("want either rename and to, or remove")
		}
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return &j, nil
}

// applyJournal performs a journal's steps, fsyncs every directory they
// touched and deletes the journal. It is idempotent: a rename whose
// temporary file is gone was done by an earlier attempt, a removal of a
// missing file too.
func (w *Workspace) applyJournal(j *journal, step func(string) error) error {
	if step == nil {
		step = func(string) error { return nil }
	}
	for _, d := range layoutDirs {
		if err := w.checkLayoutDir(d); err != nil {
			return err
		}
	}
	dirs := map[string]bool{".": true}
	for _, s := range j.Steps {
		if s.Rename != "" {
			err := os.Rename(w.Path(s.Rename), w.Path(s.To))
			if errors.Is(err, fs.ErrNotExist) {
				if _, serr := os.Lstat(w.Path(s.To)); serr == nil {
					err = nil
				}
			}
			if err != nil {
				return fmt.Errorf("failed to write %s: %w", s.To, err)
			}
			dirs[path.Dir(s.To)] = true
			if err := step("rename " + s.To); err != nil {
				return err
			}
			continue
		}
		if err := os.Remove(w.Path(s.Remove)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("failed to remove %s: %w", s.Remove, err)
		}
		dirs[path.Dir(s.Remove)] = true
		if err := step("remove " + s.Remove); err != nil {
			return err
		}
	}
	for _, d := range append([]string{"."}, layoutDirs...) {
		if dirs[d] {
			if err := syncDir(w.Path(d)); err != nil {
				return err
			}
		}
	}
	if err := step("dirs-synced"); err != nil {
		return err
	}
	if err := os.Remove(w.Path(journalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove %s: %w", journalFile, err)
	}
	if err := syncDir(w.Dir); err != nil {
		return err
	}
	return step("journal-removed")
}

// Tx is a change of the workspace that Commit makes all at once: after a
// crash at any instant the workspace is in either the old state or the
// new one. Operations on the same path replace each other (the last one
// counts). Errors in the arguments are reported by Commit.
type Tx struct {
	w       *Workspace
	ops     map[string]txOp
	records []Entry
	err     error
	done    bool
	// expect holds the contents files must still have at commit time.
	expect map[string][]byte
	// mayDiffer lists files whose current content may differ from
	// SHA256SUMS (a tampered proposal being discarded).
	mayDiffer map[string]bool
}

// Expect makes Commit fail, changing nothing, unless rel still holds data:
// a command that read a file and writes a new version of it must not
// overwrite what another command wrote meanwhile.
func (tx *Tx) Expect(rel string, data []byte) {
	if tx.expect == nil {
		tx.expect = map[string][]byte{}
	}
	tx.expect[rel] = data
}

// AllowTampered lets Commit go ahead although rel no longer matches
// SHA256SUMS: for discarding a file that was changed by hand.
func (tx *Tx) AllowTampered(rel string) {
	if tx.mayDiffer == nil {
		tx.mayDiffer = map[string]bool{}
	}
	tx.mayDiffer[rel] = true
}

type opKind int

const (
	opCreate opKind = iota
	opReplace
	opRemove
)

type txOp struct {
	kind opKind
	data []byte
}

// Begin starts a transaction.
func (w *Workspace) Begin() *Tx {
	return &Tx{w: w, ops: map[string]txOp{}}
}

func (tx *Tx) set(rel string, op txOp) {
	if err := checkLayoutPath(rel); err != nil {
		tx.fail(err)
		return
	}
	tx.ops[rel] = op
}

func (tx *Tx) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

// Create writes a new file. Commit fails, changing nothing, if the file
// already exists: published metadata and keys are written once. The
// transaction keeps data, not a copy (a targets file can be tens of
// megabytes): the caller must not change it before Commit.
func (tx *Tx) Create(rel string, data []byte) {
	tx.set(rel, txOp{opCreate, data})
}

// Replace creates a file or overwrites it. Commit refuses to overwrite a
// write-once file (keys/*, metadata/N.*) with ErrWriteOnce. As with
// Create, data is kept, not copied.
func (tx *Tx) Replace(rel string, data []byte) {
	tx.set(rel, txOp{opReplace, data})
}

// Remove deletes a file. Commit fails if the file does not exist or is
// write-once.
func (tx *Tx) Remove(rel string) {
	tx.set(rel, txOp{kind: opRemove})
}

// Record appends an entry to the transcript. data is encoded as JSON now;
// nil means no data.
func (tx *Tx) Record(event string, data any) {
	if event == "" {
		tx.fail(errors.New("transcript event must not be empty"))
		return
	}
	e := Entry{Event: event}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			tx.fail(fmt.Errorf("failed to encode data of transcript event %q: %w", event, err))
			return
		}
		if string(raw) != "null" {
			e.Data = raw
		}
	}
	tx.records = append(tx.records, e)
}

// Commit makes the transaction's changes, appends its transcript entries
// and rewrites SHA256SUMS, all or nothing. A new workspace is created by
// its first Commit, whose first transcript entry is "workspace-created".
// While Commit runs it holds an exclusive lock on the workspace; a second
// process gets ErrWorkspaceLocked. A Tx can be committed once. Committing
// a Tx that changes nothing in an existing workspace does nothing.
func (tx *Tx) Commit() error {
	if tx.done {
		return errors.New("transaction already committed")
	}
	tx.done = true
	if tx.err != nil {
		return tx.err
	}
	c := &committer{w: tx.w, tx: tx}
	return c.run()
}

// committer carries the state of one Commit, for undoing it on failure.
type committer struct {
	w  *Workspace
	tx *Tx

	lock        *os.File
	lockCreated bool
	createdDirs []string // absolute, in creation order
	temps       []string // absolute
	journaled   bool     // past the point of no return
}

func (c *committer) step(name string) error {
	if commitHook != nil {
		return commitHook(name)
	}
	return nil
}

func (c *committer) run() (err error) {
	w := c.w
	if len(c.tx.ops) == 0 && len(c.tx.records) == 0 && w.Exists() {
		return nil
	}
	defer func() {
		if err != nil && !c.journaled && !errors.Is(err, errSimulatedCrash) {
			c.undo()
		}
		if c.lock != nil {
			c.lock.Close()
		}
	}()

	if err := c.mkdir(w.Dir); err != nil {
		return fmt.Errorf("failed to create workspace %s: %w", w.Dir, err)
	}
	if c.lock, c.lockCreated, err = lockDir(w.Dir); err != nil {
		return err
	}
	if err := w.recoverLocked(); err != nil {
		return err
	}
	existed, err := w.exists()
	if err != nil {
		return err
	}
	if w.existed && !existed {
		return fmt.Errorf("%s has disappeared from the workspace", TranscriptFile)
	}
	if err := c.step("locked"); err != nil {
		return err
	}
	if err := c.checkPreconditions(existed); err != nil {
		return err
	}

	for _, d := range layoutDirs {
		if err := w.checkLayoutDir(d); err != nil {
			return err
		}
		if err := c.mkdir(w.Path(d)); err != nil {
			return fmt.Errorf("failed to create %s: %w", w.Path(d), err)
		}
	}
	if err := c.step("dirs-created"); err != nil {
		return err
	}

	// The new transcript: the old one, verified, plus the new entries.
	var old []byte
	if existed {
		if old, err = w.readRegular(TranscriptFile); err != nil {
			return fmt.Errorf("failed to read %s: %w", TranscriptFile, err)
		}
	}
	now := w.now().UTC().Truncate(time.Second)
	var events []Entry
	if !existed {
		abs, err := filepath.Abs(w.Dir)
		if err != nil {
			return err
		}
		data, err := json.Marshal(map[string]string{"dir": abs})
		if err != nil {
			return err
		}
		events = append(events, Entry{Event: EventWorkspaceCreated, Data: data})
	}
	sess := sessionEntry(w.Dir)
	if sess != nil {
		events = append(events, *sess)
	}
	events = append(events, c.tx.records...)
	for i := range events {
		events[i].Time = now
	}
	transcript, err := appendTranscript(old, events)
	if err != nil {
		return err
	}

	// Check the operations against the files as they are now.
	paths := slices.Sorted(maps.Keys(c.tx.ops))
	for _, rel := range paths {
		if err := w.checkOp(rel, c.tx.ops[rel].kind); err != nil {
			return err
		}
	}

	// SHA256SUMS of the new state.
	sums, err := w.hashFiles(func(rel string) bool {
		_, changed := c.tx.ops[rel]
		return changed || rel == TranscriptFile
	})
	if err != nil {
		return err
	}
	for _, rel := range paths {
		if op := c.tx.ops[rel]; op.kind != opRemove {
			sum := sha256.Sum256(op.data)
			sums[rel] = hex.EncodeToString(sum[:])
		}
	}
	tsum := sha256.Sum256(transcript)
	sums[TranscriptFile] = hex.EncodeToString(tsum[:])

	// Temporary files, and the journal's steps: files first, then
	// removals, then the transcript, then SHA256SUMS.
	j := &journal{Version: 1}
	var removals []journalStep
	for _, rel := range paths {
		op := c.tx.ops[rel]
		if op.kind == opRemove {
			removals = append(removals, journalStep{Remove: rel})
			continue
		}
		tmp, err := c.writeTemp(rel, op.data)
		if err != nil {
			return err
		}
		j.Steps = append(j.Steps, journalStep{Rename: tmp, To: rel})
	}
	j.Steps = append(j.Steps, removals...)
	for _, f := range []struct {
		rel  string
		data []byte
	}{{TranscriptFile, transcript}, {SumsFile, formatSums(sums)}} {
		tmp, err := c.writeTemp(f.rel, f.data)
		if err != nil {
			return err
		}
		j.Steps = append(j.Steps, journalStep{Rename: tmp, To: f.rel})
	}
	// The temporary files' directory entries must be durable before the
	// journal that names them is.
	for _, d := range append([]string{"."}, layoutDirs...) {
		if err := syncDir(w.Path(d)); err != nil {
			return err
		}
	}
	if err := c.step("temps-written"); err != nil {
		return err
	}

	// Nobody may have changed the transcript meanwhile: history is only
	// ever appended to.
	if existed {
		now, err := w.readRegular(TranscriptFile)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", TranscriptFile, err)
		}
		if !bytes.Equal(now, old) {
			return fmt.Errorf("%s changed during the commit", TranscriptFile)
		}
	}

	// The point of no return.
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	err = writeFileAtomic(w.Path(journalFile), append(data, '\n'), filePerm)
	if w.fileExists(journalFile) {
		c.journaled = true
	}
	if err != nil {
		if c.journaled {
			return incomplete(err)
		}
		return err
	}
	if err := c.step("journal-written"); err != nil {
		return incomplete(err)
	}
	if err := w.applyJournal(j, c.step); err != nil {
		return incomplete(err)
	}
	w.existed = true
	if sess != nil {
		sessionRecorded(w.Dir)
	}
	return nil
}

func incomplete(err error) error {
	if errors.Is(err, errSimulatedCrash) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCommitPending, err)
}

// ErrCommitPending is a change past its point of no return that could not
// be finished; the next command on the workspace finishes it.
var ErrCommitPending = errors.New("failed to complete the change, which will be completed when the workspace is next opened")

// ErrChangedMeanwhile is a file changed by another command between the
// time a command read it and the time it commits.
var ErrChangedMeanwhile = errors.New("changed by another command meanwhile")

// checkPreconditions refuses to build on a workspace changed outside
// tuf-ceremony (SHA256SUMS no longer matches) or on files changed since
// the command read them.
func (c *committer) checkPreconditions(existed bool) error {
	w := c.w
	for rel, want := range c.tx.expect {
		if same, err := w.holds(rel, want); err != nil || !same {
			return fmt.Errorf("%s: %w; run the command again", rel, ErrChangedMeanwhile)
		}
	}
	if !existed || !w.fileExists(SumsFile) {
		return nil
	}
	data, err := w.readRegular(SumsFile)
	if err != nil {
		return err
	}
	listed, err := parseSums(data)
	if err != nil {
		return err
	}
	actual, err := w.hashFiles(nil)
	if err != nil {
		return err
	}
	for _, rel := range slices.Sorted(maps.Keys(listed)) {
		if rel == TranscriptFile || c.tx.mayDiffer[rel] {
			continue // the transcript's own chain is checked when it is extended
		}
		if got, ok := actual[rel]; !ok || got != listed[rel] {
			return fmt.Errorf("%w: %s was changed outside tuf-ceremony; refusing to record anything on top of it", ErrSumsMismatch, rel)
		}
	}
	for rel := range actual {
		if _, ok := listed[rel]; !ok && !c.tx.mayDiffer[rel] {
			return fmt.Errorf("%w: %s was added outside tuf-ceremony; refusing to record anything on top of it", ErrSumsMismatch, rel)
		}
	}
	return nil
}

// checkOp checks one operation of a Tx against the file as it is now.
func (w *Workspace) checkOp(rel string, kind opKind) error {
	fi, err := os.Lstat(w.Path(rel))
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	case exists && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", rel)
	case kind == opCreate && exists:
		return fmt.Errorf("cannot create %s: %w", rel, fs.ErrExist)
	case kind == opReplace && exists && isWriteOnce(rel):
		return fmt.Errorf("cannot replace %s: %w", rel, ErrWriteOnce)
	case kind == opRemove && !exists:
		return fmt.Errorf("cannot remove %s: %w", rel, fs.ErrNotExist)
	case kind == opRemove && isWriteOnce(rel):
		return fmt.Errorf("cannot remove %s: %w", rel, ErrWriteOnce)
	}
	return nil
}

// mkdir creates dir and any missing parents, remembering which ones it
// created, and makes the new entries durable.
func (c *committer) mkdir(dir string) error {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Reverse(missing)
	for _, p := range missing {
		if err := os.Mkdir(p, dirPerm); err != nil {
			return err
		}
		c.createdDirs = append(c.createdDirs, p)
	}
	for _, p := range missing {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

// writeTemp writes the future content of rel to a temporary file next to
// it and returns the temporary file's relative path.
func (c *committer) writeTemp(rel string, data []byte) (string, error) {
	tmp, err := writeTemp(filepath.Dir(c.w.Path(rel)), data, filePerm)
	if err != nil {
		return "", fmt.Errorf("failed to write %s: %w", rel, err)
	}
	c.temps = append(c.temps, tmp)
	return path.Join(path.Dir(rel), filepath.Base(tmp)), nil
}

// undo removes everything a Commit that failed before its point of no
// return created: temporary files, the directories it made and, in a
// workspace that still does not exist, the lock file.
func (c *committer) undo() {
	for _, t := range c.temps {
		os.Remove(t)
	}
	if c.lockCreated && !c.w.Exists() {
		os.Remove(c.w.Path(lockFile))
	}
	for _, d := range slices.Backward(c.createdDirs) {
		os.Remove(d) // only if empty
	}
}
