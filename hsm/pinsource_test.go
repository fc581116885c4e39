package hsm_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// pinSourceTestFile writes content to a new file and returns its path.
func pinSourceTestFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadPINSource(t *testing.T) {
	long := strings.Repeat("7", 256)
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"no line ending", "123456", "123456"},
		{"newline stripped", "123456\n", "123456"},
		{"crlf stripped", "123456\r\n", "123456"},
		{"spaces are part of the PIN", " 12 34 \n", " 12 34 "},
		{"256 bytes", long, long},
		{"255 bytes and a newline", long[:255] + "\n", long[:255]},
		{"utf-8", "pässwörd\n", "pässwörd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := pinSourceTestFile(t, tt.content)
			for _, src := range []string{path, "file:" + path, "file://" + path, "file://localhost" + path, "FILE:" + path} {
				pin, err := hsm.ReadPINSource(src)
				if err != nil {
					t.Fatalf("ReadPINSource(%q): %v", src, err)
				}
				if pin.Reveal() != tt.want {
					t.Errorf("ReadPINSource(%q) = %q, want %q", src, pin.Reveal(), tt.want)
				}
			}
		})
	}
}

func TestReadPINSourceSymlink(t *testing.T) {
	path := pinSourceTestFile(t, "2468\n")
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(path, link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	pin, err := hsm.ReadPINSource("file:" + link)
	if err != nil || pin.Reveal() != "2468" {
		t.Fatalf("ReadPINSource through a symlink = %q, %v; want 2468", pin.Reveal(), err)
	}
}

// TestReadPINSourceBadContent checks each refusal of a file's content, and
// that no error repeats the content.
func TestReadPINSourceBadContent(t *testing.T) {
	tests := []struct {
		name    string
		content string
		reason  string
	}{
		{"empty file", "", "file is empty"},
		{"only a newline", "\n", "file holds an empty PIN"},
		{"only crlf", "\r\n", "file holds an empty PIN"},
		{"two newlines", "SECRET\n\n", "file holds more than one line; a PIN file holds the PIN and at most one line ending"},
		{"two lines", "SECRET\nSECRET2\n", "file holds more than one line; a PIN file holds the PIN and at most one line ending"},
		{"lone cr", "SECRET\r", "file holds more than one line; a PIN file holds the PIN and at most one line ending"},
		{"nul byte", "SECRET\x00\n", "file holds a NUL byte"},
		{"257 bytes", strings.Repeat("S", 256) + "\n", "file is 257 bytes, too large for a PIN (at most 256)"},
		{"large", "SECRET" + strings.Repeat("x", 10000), "file is 10006 bytes, too large for a PIN (at most 256)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := pinSourceTestFile(t, tt.content)
			_, err := hsm.ReadPINSource("file:" + path)
			if err == nil {
				t.Fatal("no error")
			}
			if want := "failed to read PIN from " + path + ": " + tt.reason; err.Error() != want {
				t.Errorf("error\n  %v\nwant\n  %s", err, want)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "SSSS") {
				t.Errorf("error shows the file's content: %v", err)
			}
		})
	}
}

func TestReadPINSourceNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	_, err := hsm.ReadPINSource(dir)
	if want := "failed to read PIN from " + dir + ": not a regular file (a directory)"; err == nil || err.Error() != want {
		t.Errorf("directory: error %v, want %s", err, want)
	}

	if _, statErr := os.Stat("/dev/null"); statErr == nil {
		_, err = hsm.ReadPINSource("file:///dev/null")
		if want := "failed to read PIN from /dev/null: not a regular file (a device)"; err == nil || err.Error() != want {
			t.Errorf("/dev/null: error %v, want %s", err, want)
		}
	}

	mkfifo, lookErr := exec.LookPath("mkfifo")
	if lookErr != nil {
		t.Log("no mkfifo here: named pipe case not tested")
		return
	}
	fifo := filepath.Join(dir, "fifo")
	if out, err := exec.Command(mkfifo, fifo).CombinedOutput(); err != nil {
		t.Fatalf("mkfifo: %v: %s", err, out)
	}
	// A FIFO without a writer must be refused, not waited on.
	done := make(chan error, 1)
	go func() {
		_, err := hsm.ReadPINSource("file:" + fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if want := "failed to read PIN from " + fifo + ": not a regular file (a named pipe)"; err == nil || err.Error() != want {
			t.Errorf("fifo: error %v, want %s", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPINSource blocked on a named pipe")
	}
}

func TestReadPINSourceMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing")
	_, err := hsm.ReadPINSource("file:" + path)
	if err == nil {
		t.Fatal("no error")
	}
	if want := "failed to read PIN from " + path + ": no such file or directory"; err.Error() != want {
		t.Errorf("error\n  %v\nwant\n  %s", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestReadPINSourceUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	path := pinSourceTestFile(t, "SECRET\n")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := hsm.ReadPINSource(path)
	if want := "failed to read PIN from " + path + ": permission denied"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("errors.Is(%v, fs.ErrPermission) = false", err)
	}
}

func TestReadPINSourceBadSource(t *testing.T) {
	const relative = "failed to read PIN: pin-source must be an absolute path such as file:/run/pin or /run/pin; " +
		"a relative path is refused (not shown, in case it is a PIN)"
	tests := []struct {
		src  string
		want string
	}{
		{"", "failed to read PIN: empty pin-source"},
		{"123456", relative},
		{"run/pin", relative},
		{"./pin", relative},
		{"file:run/pin", relative},
		{"file:", relative},
		{"file://", relative},
		{"file://localhost", relative},
		{"1234:5678", relative},
		{"env:TOKEN_PIN", `failed to read PIN: unsupported pin-source scheme "env:" (only file: is supported, e.g. file:/run/pin)`},
		{"https://example.com/pin", `failed to read PIN: unsupported pin-source scheme "https:" (only file: is supported, e.g. file:/run/pin)`},
		{"file://otherhost/run/pin", `failed to read PIN: pin-source names host "otherhost"; only local files are supported (file:/run/pin or file:///run/pin)`},
	}
	for _, tt := range tests {
		_, err := hsm.ReadPINSource(tt.src)
		if err == nil {
			t.Errorf("ReadPINSource(%q): no error", tt.src)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ReadPINSource(%q) error\n  %v\nwant\n  %s", tt.src, err, tt.want)
		}
	}
}
