package virtualpiv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VPCDDriver is where Debian's vsmartcard-vpcd installs the vpcd driver.
const VPCDDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"

// pcscdTimeout bounds pcscd's start and stop.
const pcscdTimeout = 20 * time.Second

// PCSCDPath returns the path of pcscd, or "" when it is not installed.
// Debian puts it in /usr/sbin, which is often not on a user's PATH.
func PCSCDPath() string {
	if p, err := exec.LookPath("pcscd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pcscd"); err == nil {
		return "/usr/sbin/pcscd"
	}
	return ""
}

// UnavailableError says why this machine cannot run a private pcscd with
// virtual readers, and what would fix it.
type UnavailableError struct {
	What    string // what is missing, for a sentence: "pcscd", "the vpcd virtual reader …"
	Package string // the Debian package that brings it
	Fix     string // what to do
	Err     error  // the underlying error, if any
}

func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("no %s: %v", e.What, e.Err)
	}
	return "no " + e.What
}

func (e *UnavailableError) Unwrap() error { return e.Err }

var (
	nsOnce sync.Once
	nsErr  error
)

// Check reports whether this machine can run a private pcscd with vpcd
// readers (StartPCSCD): nil, or an *UnavailableError naming what is
// missing.
func Check() error {
	if PCSCDPath() == "" {
		return &UnavailableError{What: "pcscd", Package: "pcscd",
			Fix: "apt-get install pcscd vsmartcard-vpcd (or: make deps)"}
	}
	if _, err := os.Stat(VPCDDriver); err != nil {
		return &UnavailableError{What: "vpcd virtual reader (" + VPCDDriver + ")", Package: "vsmartcard-vpcd",
			Fix: "apt-get install pcscd vsmartcard-vpcd (or: make deps)"}
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return &UnavailableError{What: "unshare", Package: "util-linux", Fix: "apt-get install util-linux"}
	}
	nsOnce.Do(func() {
		out, err := exec.Command("unshare", namespaceArgs("true")...).CombinedOutput()
		if err != nil {
			nsErr = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
	})
	if nsErr != nil {
		return &UnavailableError{What: "private mount namespace for pcscd", Package: "util-linux",
			Fix: "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)", Err: nsErr}
	}
	return nil
}

// namespaceArgs are unshare's arguments for a private mount namespace:
// as root directly, otherwise inside a new user namespace.
func namespaceArgs(cmd ...string) []string {
	args := []string{"-m", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append([]string{"-r"}, args...)
	}
	return append(args, cmd...)
}

// nsScript runs in the new mount namespace: DIR/runroot over /run (so
// pcscd's fixed /run/pcscd/pcscd.comm is DIR/run/pcscd.comm outside), an
// empty directory over the USB drivers (so it never touches real
// readers), then pcscd with the vpcd readers of DIR/reader.conf.d.
const nsScript = `set -e
dir=$1
mount --bind "$dir/runroot" /run
if [ -d /usr/lib/pcsc/drivers ]; then mount --bind "$dir/empty" /usr/lib/pcsc/drivers; fi
exec "$2" --foreground --info --config "$dir/reader.conf.d"
`

// PCSCD is a private pcscd with vpcd readers, isolated from the machine's
// readers and from any system pcscd.
//
// pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm (it ignores
// PCSCLITE_CSOCK_NAME; only the client library honours it), so it runs in
// a mount namespace of its own (unshare: as root, or with an unprivileged
// user namespace) where Dir/runroot is mounted over /run. Each pair of
// readers gets its own copy of the vpcd driver, whose two slots listen on
// consecutive TCP ports (the driver keeps its slots in static memory, so a
// shared copy would serve only two cards); readers are named "Virtual
// YubiKey K 00 00" and "Virtual YubiKey K 00 01".
type PCSCD struct {
	Dir     string   // its directory (configuration, drivers, socket)
	Socket  string   // its socket: the PCSCLITE_CSOCK_NAME of its clients
	Readers []string // reader names, one per vpcd slot
	Addrs   []string // vpcd address of each reader, for the card (127.0.0.1)
	Pid     int      // pcscd's process id

	log      *Lines
	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once
}

// StartPCSCD starts a private pcscd with at least slots vpcd readers in
// dir (an existing directory outside /run), and waits until it listens.
// Stop it with Stop; the caller removes dir.
func StartPCSCD(dir string, slots int) (*PCSCD, error) {
	if slots < 1 || slots > 16 {
		return nil, fmt.Errorf("%d virtual readers: want 1 to 16", slots)
	}
	if err := Check(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if dir == "/run" || strings.HasPrefix(dir, "/run/") {
		return nil, fmt.Errorf("%s is under /run, which the private pcscd replaces: use a directory elsewhere", dir)
	}
	n := 2 * ((slots + 1) / 2)
	var lastErr error
	var log string
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePorts(n)
		if err != nil {
			return nil, err
		}
		if err := writeConfig(dir, n, port); err != nil {
			return nil, err
		}
		p, err := startPCSCD(dir, port, n)
		if err == nil {
			return p, nil
		}
		lastErr, log = err, p.Log()
		p.Stop()
	}
	return nil, fmt.Errorf("pcscd did not start: %w%s", lastErr, lastLines(log, 5))
}

// lastLines is the end of a process's output, for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return " (pcscd: " + strings.Join(lines, "; ") + ")"
}

func startPCSCD(dir string, port, n int) (*PCSCD, error) {
	p := &PCSCD{Dir: dir, Socket: filepath.Join(dir, "run", "pcscd.comm"), done: make(chan struct{})}
	for i := 0; i < n; i++ {
		p.Readers = append(p.Readers, fmt.Sprintf("Virtual YubiKey %d 00 %02d", i/2, i%2))
		p.Addrs = append(p.Addrs, fmt.Sprintf("127.0.0.1:%d", port+i))
	}
	cmd := exec.Command("unshare", namespaceArgs("sh", "-c", nsScript, "sh", dir, PCSCDPath())...)
	// unshare and sh exec in turn: the process is pcscd itself, killed
	// with this process if it dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return p, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		p.log = NewLines(strings.NewReader(""))
		close(p.done)
		return p, fmt.Errorf("failed to start pcscd: %w", err)
	}
	p.cmd, p.Pid, p.log = cmd, cmd.Process.Pid, NewLines(out)
	go func() { <-p.log.EOF(); cmd.Wait(); close(p.done) }()
	return p, p.waitReady()
}

// writeConfig writes DIR/reader.conf.d with one vpcd entry per pair of
// readers, and the directories the namespace mounts.
func writeConfig(dir string, n, port int) error {
	for _, d := range []string{"reader.conf.d", "drivers"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	for _, d := range []string{"reader.conf.d", "drivers", "run", "runroot", "empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	link := filepath.Join(dir, "runroot", "pcscd")
	os.Remove(link)
	if err := os.Symlink(filepath.Join(dir, "run"), link); err != nil {
		return err
	}
	driver, err := os.ReadFile(VPCDDriver)
	if err != nil {
		return err
	}
	for k := 0; k < n/2; k++ {
		lib := filepath.Join(dir, "drivers", fmt.Sprintf("vpcd-%d.so", k))
		if err := os.WriteFile(lib, driver, 0o755); err != nil {
			return err
		}
		conf := fmt.Sprintf("FRIENDLYNAME \"Virtual YubiKey %d\"\nDEVICENAME   /dev/null:%d\nLIBPATH      %s\nCHANNELID    %d\n",
			k, port+2*k, lib, port+2*k)
		if err := os.WriteFile(filepath.Join(dir, "reader.conf.d", fmt.Sprintf("virtual-yubikey-%d", k)), []byte(conf), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// waitReady waits until pcscd listens on its socket with every reader.
func (p *PCSCD) waitReady() error {
	deadline := time.Now().Add(pcscdTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("pcscd exited")
		default:
		}
		if p.log.Count("Could not initialize") > 0 {
			return errors.New("vpcd could not listen on its ports")
		}
		if fi, err := os.Stat(p.Socket); err == nil && fi.Mode()&os.ModeSocket != 0 && p.log.Count("daemon ready") > 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timed out")
}

// Stop ends pcscd (SIGTERM, then SIGKILL after a while) and waits until
// it is gone; its mount namespace goes with it. Stopping twice is fine.
func (p *PCSCD) Stop() {
	p.stopOnce.Do(func() {
		if p.cmd == nil {
			return
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(pcscdTimeout):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Exited is closed once pcscd has ended.
func (p *PCSCD) Exited() <-chan struct{} { return p.done }

// WaitInserted waits until pcscd has seen a card inserted into reader n
// times since it started.
func (p *PCSCD) WaitInserted(reader string, n int, timeout time.Duration) error {
	return p.log.WaitSuffix("Card inserted into "+reader, n, timeout)
}

// WaitRemoved waits until pcscd has seen a card removed from reader n
// times since it started.
func (p *PCSCD) WaitRemoved(reader string, n int, timeout time.Duration) error {
	return p.log.WaitSuffix("Card Removed From "+reader, n, timeout)
}

// Inserted counts the insertions pcscd saw in reader.
func (p *PCSCD) Inserted(reader string) int { return p.log.CountSuffix("Card inserted into " + reader) }

// Removed counts the removals pcscd saw in reader.
func (p *PCSCD) Removed(reader string) int { return p.log.CountSuffix("Card Removed From " + reader) }

// Log returns what pcscd printed.
func (p *PCSCD) Log() string {
	if p.log == nil {
		return ""
	}
	return p.log.String()
}

// freePorts finds n consecutive free TCP ports, starting at an even one.
// vpcd listens on every interface, so they are checked there.
func freePorts(n int) (int, error) {
	for try := 0; try < 100; try++ {
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return 0, err
		}
		base := l.Addr().(*net.TCPAddr).Port &^ 1
		l.Close()
		if base < 1024 || base+n > 65535 {
			continue
		}
		ok := true
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free TCP ports for vpcd")
}
