package hsm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// pinSourceMaxBytes bounds a PIN file: PINs are short, and anything larger
// is the wrong file.
const pinSourceMaxBytes = 256

// ReadPINSource reads a PIN from a pin-source value: "file:/abs/path", "file:///abs/path" or a plain absolute path.
//
// src is the attribute value after the URI's own percent-decoding; the path
// is taken literally, not decoded a second time. "file://localhost/abs/path"
// is accepted too; other hosts and other schemes are refused.
//
// The file must be a regular file (a symbolic link to one is fine) of at
// most 256 bytes. One trailing "\n" or "\r\n" is removed; what remains must
// be a non-empty single line without NUL bytes, so that a stray blank line
// does not turn into a wrong PIN that costs a retry.
//
// Errors read "failed to read PIN from <path>: …" and never contain the
// file's content. A relative path is not echoed back either, in case a PIN
// was written where its source was meant.
func ReadPINSource(src string) (PIN, error) {
	path, err := pinSourcePath(src)
	if err != nil {
		return PIN{}, err
	}
	fail := func(format string, args ...any) (PIN, error) {
		return PIN{}, fmt.Errorf("failed to read PIN from %s: "+format, append([]any{path}, args...)...)
	}
	failErr := func(err error) (PIN, error) {
		// An *fs.PathError repeats the path; keep only its cause, which
		// still answers errors.Is(err, fs.ErrNotExist) and the like.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail("%w", err)
	}

	// Stat before opening, so that a FIFO or a device is never opened.
	fi, err := os.Stat(path)
	if err != nil {
		return failErr(err)
	}
	if msg := pinSourceCheck(fi); msg != "" {
		return fail("%s", msg)
	}
	// O_NONBLOCK: should the path be swapped for a FIFO meanwhile, open
	// does not hang; the second check below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return failErr(err)
	}
	defer f.Close()
	fi2, err := f.Stat()
	if err != nil {
		return failErr(err)
	}
	if msg := pinSourceCheck(fi2); msg != "" {
		return fail("%s", msg)
	}
	data, err := io.ReadAll(io.LimitReader(f, pinSourceMaxBytes+1))
	defer clear(data)
	if err != nil {
		return failErr(err)
	}
	if len(data) > pinSourceMaxBytes {
		return fail("file is larger than %d bytes, too large for a PIN", pinSourceMaxBytes)
	}
	if len(data) == 0 {
		return fail("file is empty")
	}
	s := string(data)
	if strings.HasSuffix(s, "\r\n") {
		s = s[:len(s)-2]
	} else if strings.HasSuffix(s, "\n") {
		s = s[:len(s)-1]
	}
	switch {
	case s == "":
		return fail("file holds an empty PIN")
	case strings.ContainsAny(s, "\r\n"):
		return fail("file holds more than one line; a PIN file holds the PIN and at most one line ending")
	case strings.ContainsRune(s, 0):
		return fail("file holds a NUL byte")
	}
	return NewPIN(s), nil
}

// pinSourceCheck says what is wrong with a PIN file's metadata, or "".
func pinSourceCheck(fi fs.FileInfo) string {
	m := fi.Mode()
	if !m.IsRegular() {
		kind := "not a regular file"
		switch {
		case m.IsDir():
			kind += " (a directory)"
		case m&fs.ModeNamedPipe != 0:
			kind += " (a named pipe)"
		case m&fs.ModeSocket != 0:
			kind += " (a socket)"
		case m&fs.ModeDevice != 0:
			kind += " (a device)"
		}
		return kind
	}
	if fi.Size() > pinSourceMaxBytes {
		return fmt.Sprintf("file is %d bytes, too large for a PIN (at most %d)", fi.Size(), pinSourceMaxBytes)
	}
	return ""
}

// pinSourcePath turns a pin-source value into an absolute file path.
func pinSourcePath(src string) (string, error) {
	const relative = "failed to read PIN: pin-source must be an absolute path such as file:/run/pin or /run/pin; " +
		"a relative path is refused (not shown, in case it is a PIN)"
	if src == "" {
		return "", errors.New("failed to read PIN: empty pin-source")
	}
	if filepath.IsAbs(src) {
		return src, nil
	}
	scheme, rest, ok := strings.Cut(src, ":")
	if !ok || !pinSourceIsScheme(scheme) {
		return "", errors.New(relative)
	}
	if !strings.EqualFold(scheme, "file") {
		return "", fmt.Errorf("failed to read PIN: unsupported pin-source scheme %q (only file: is supported, e.g. file:/run/pin)", scheme+":")
	}
	if authority, ok := strings.CutPrefix(rest, "//"); ok {
		host, _, _ := strings.Cut(authority, "/")
		if host != "" && !strings.EqualFold(host, "localhost") {
			return "", fmt.Errorf("failed to read PIN: pin-source names host %q; only local files are supported (file:/run/pin or file:///run/pin)", host)
		}
		rest = authority[len(host):]
	}
	if !strings.HasPrefix(rest, "/") {
		return "", errors.New(relative)
	}
	return rest, nil
}

// pinSourceIsScheme reports whether s is an RFC 3986 scheme name.
func pinSourceIsScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alpha && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
