// Package tuftest runs go-tuf v2's client over what a ceremony published,
// for tests: it adds snapshot and timestamp signed by a test online key and
// refreshes from 1.root.json through a file fetcher, with no network.
package tuftest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// OnlineKey is the private half of a test online key.
type OnlineKey struct{ priv *ecdsa.PrivateKey }

// NewOnlineKey makes a P-256 online key and writes its public half as PEM
// to pemPath and its private half to pemPath+".key".
func NewOnlineKey(pemPath string) (*OnlineKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err := os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(priv)
	if err := os.WriteFile(pemPath+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return nil, err
	}
	return &OnlineKey{priv: priv}, nil
}

// LoadOnlineKey reads a key written by NewOnlineKey.
func LoadOnlineKey(pemPath string) (*OnlineKey, error) {
	data, err := os.ReadFile(pemPath + ".key")
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return &OnlineKey{priv: priv}, nil
}

var versioned = regexp.MustCompile(`^([0-9]+)\.(.+)\.json$`)

// Refresh serves metadataDir (a ceremony's metadata/) with snapshot and
// timestamp signed by key, runs go-tuf v2's updater from 1.root.json, and
// returns it refreshed. Every N.root.json is offered, so the client walks
// every rotation. workDir receives the served repository and the client's
// cache.
func Refresh(metadataDir, workDir string, key *OnlineKey) (*updater.Updater, error) {
	repo, err := Serve(metadataDir, workDir, key)
	if err != nil {
		return nil, err
	}
	root1, err := os.ReadFile(filepath.Join(metadataDir, "1.root.json"))
	if err != nil {
		return nil, err
	}
	cfg, err := config.New("https://repo.invalid/metadata/", root1)
	if err != nil {
		return nil, err
	}
	cfg.RemoteTargetsURL = "https://repo.invalid/targets/"
	cfg.Fetcher = FileFetcher{Base: "https://repo.invalid/", Dir: repo}
	cfg.LocalMetadataDir = filepath.Join(workDir, "client")
	cfg.LocalTargetsDir = filepath.Join(workDir, "client-targets")
	for _, d := range []string{cfg.LocalMetadataDir, cfg.LocalTargetsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := up.Refresh(); err != nil {
		return nil, fmt.Errorf("go-tuf client refresh: %w", err)
	}
	return up, nil
}

// FileFetcher serves a repository from a directory: no network.
type FileFetcher struct {
	Base string // URL prefix
	Dir  string
}

// DownloadFile reads the file a URL names under Dir.
func (f FileFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	rel, ok := strings.CutPrefix(url, f.Base)
	if !ok || strings.Contains(rel, "..") {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: url}
	}
	data, err := os.ReadFile(filepath.Join(f.Dir, filepath.FromSlash(rel)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: url}
	}
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: "too long"}
	}
	return data, nil
}
