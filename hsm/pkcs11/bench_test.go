package pkcs11_test

// BenchmarkBackendSign (issue 8, token overhead, run by `make bench`, never
// by `make test`): five signatures on five SoftHSM tokens through this
// backend (Open, PINState, Login, Keys, Signer, Sign with its check,
// Close), against the raw PKCS#11 calls for the same payloads through
// miekg/pkcs11 directly (module load, C_Initialize, slot lookup, session,
// C_Login, C_FindObjects, C_SignInit, C_Sign, C_Logout, C_Finalize),
// measured back to back in every iteration. x is backend / raw;
// overhead-us/sig is (backend − raw) / 5.
//
// cmd/tuf-ceremony's BenchmarkSignOverhead measures the whole `sign`
// command the same way.

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

const benchTokens = 5

type benchToken struct {
	label string
	uri   string // with module-path and pin-source
	pin   string
	keyID []byte // CKA_ID of the key pair
}

// backendSign signs the same digest through this package, as ceremony.Sign
// drives it.
func backendSign(ctx context.Context, t benchToken, digest []byte) ([]byte, error) {
	tok, err := pkcs11.NewBackend().Open(ctx, t.uri)
	if err != nil {
		return nil, err
	}
	defer tok.Close()
	if _, err := tok.PINState(ctx); err != nil {
		return nil, err
	}
	pin, _, err := hsm.URIPIN(t.uri) // the pin-source file, as the CLI reads it
	if err != nil {
		return nil, err
	}
	if err := tok.Login(ctx, pin, hsm.LoginOptions{}); err != nil {
		return nil, err
	}
	keys, err := tok.Keys(ctx)
	if err != nil || len(keys) != 1 {
		return nil, fmt.Errorf("keys of %s: %d, %v", t.label, len(keys), err)
	}
	s, err := tok.Signer(ctx, keys[0])
	if err != nil {
		return nil, err
	}
	return s.Sign(nil, digest, crypto.SHA256)
}

func BenchmarkBackendSign(b *testing.B) {
	ctx := context.Background()
	var labels []string
	for i := 1; i <= benchTokens; i++ {
		labels = append(labels, fmt.Sprintf("bench%d", i))
	}
	store := softhsmtest.New(b, labels...)
	var toks []benchToken
	for _, l := range labels {
		t := benchToken{label: l, uri: store.URI(l), pin: store.PIN(b, l)}
		tok, err := pkcs11.NewBackend().Open(ctx, t.uri)
		if err != nil {
			b.Fatal(err)
		}
		if err := tok.Login(ctx, hsm.NewPIN(t.pin), hsm.LoginOptions{}); err != nil {
			b.Fatal(err)
		}
		k, err := tok.GenerateKey(ctx, hsm.KeySpec{Algorithm: hsm.ECDSAP256, Label: "root-" + l})
		if err != nil {
			b.Fatal(err)
		}
		if t.keyID, err = hex.DecodeString(k.ID); err != nil {
			b.Fatal(err)
		}
		tok.Close()
		toks = append(toks, t)
	}
	// The canonical bytes of a root of five keys are about 4 KiB.
	payload := []byte(strings.Repeat(`{"_type":"root","keys":{}}`, 160))
	sum := sha256.Sum256(payload)
	digest := sum[:]

	raw := func() error {
		for _, t := range toks {
			if _, err := softhsmtest.RawSign(store.Module, t.label, t.pin, t.keyID, digest); err != nil {
				return err
			}
		}
		return nil
	}
	backend := func() error {
		for _, t := range toks {
			if _, err := backendSign(ctx, t, digest); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range []func() error{raw, backend} { // warm-up and check
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	var subject, baseline []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate which goes first.
		fs := [2]func() error{backend, raw}
		var d [2]time.Duration
		for k := 0; k < 2; k++ {
			j := (i + k) % 2
			start := time.Now()
			if err := fs[j](); err != nil {
				b.Fatal(err)
			}
			d[j] = time.Since(start)
		}
		subject, baseline = append(subject, d[0]), append(baseline, d[1])
	}
	b.StopTimer()
	ratios := make([]float64, len(subject))
	overheads := make([]float64, len(subject))
	for i := range subject {
		ratios[i] = float64(subject[i]) / float64(baseline[i])
		overheads[i] = float64(subject[i]-baseline[i]) / benchTokens / float64(time.Microsecond)
	}
	b.ReportMetric(float64(median(subject).Nanoseconds()), "ns/op")
	b.ReportMetric(float64(median(baseline).Nanoseconds()), "raw-ns/op")
	b.ReportMetric(medianF(overheads), "overhead-us/sig")
	b.ReportMetric(medianF(ratios), "x")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}
