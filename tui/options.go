package tui

import (
	"context"
	"crypto/x509"
	"io"
	"os"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Options are what the TUI needs from its caller. Only Backends is
// required; the rest have defaults.
type Options struct {
	// Media is the workspace directory (the removable medium); empty
	// means none yet: the home screen asks for one.
	Media string
	// Plan is a plan file to start a new repository from (optional).
	Plan string
	// Backends find and open tokens. The same instances are used for
	// listing and for ceremonies: a PKCS#11 module is per process, and two
	// backends would finalize it under each other.
	Backends []hsm.Backend
	// Modules are the PKCS#11 modules to list tokens of; nil means the
	// well-known modules present on this machine.
	Modules []string
	// Open opens the token a URI addresses and reads the PIN it carries;
	// nil opens it with Backends.
	Open ceremony.TokenOpener
	// InterfacesUp lists the network interfaces up other than loopback;
	// nil means ceremony.NetworkInterfacesUp.
	InterfacesUp func() ([]string, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AttestationRoots verify YubiKey attestations; nil means Yubico's.
	AttestationRoots *x509.CertPool
	// PollInterval is how often tokens and the medium are read again;
	// zero means every two seconds.
	PollInterval time.Duration
	// Renderer renders the styles; nil means one for stdout, which
	// respects NO_COLOR. Tests pass one with a fixed colour profile.
	Renderer *lipgloss.Renderer
	// StaticSpinner draws the spinner as one fixed frame (for golden
	// files).
	StaticSpinner bool
	// ReportDir is where the ceremony record is written by default; empty
	// means the directory that holds the medium, or the working directory
	// when that is not writable.
	ReportDir string

	// rehearsal changes how rehearsals are set up (tests).
	rehearsal rehearsalOptions
}

func (o *Options) withDefaults() {
	if o.Open == nil {
		backends := o.Backends
		o.Open = func(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
			return hsm.OpenWithURIPIN(ctx, backends, uri)
		}
	}
	if o.InterfacesUp == nil {
		o.InterfacesUp = ceremony.NetworkInterfacesUp
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Renderer == nil {
		o.Renderer = lipgloss.NewRenderer(io.Writer(os.Stdout))
	}
}
