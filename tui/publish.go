package tui

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type publishState struct {
	files      []ceremony.PublishedFile
	report     *ceremony.VerifyReport
	recordPath string
	recordHead string
}

type publishResult struct {
	files  []ceremony.PublishedFile
	report *ceremony.VerifyReport
}

// newPublishFlow: once every threshold is met, the staged files move to
// metadata/, the medium is verified as a TUF client would, and the
// ceremony record is written.
func newPublishFlow(sh *shared) (*flow, error) {
	if err := requireWorkspace(sh); err != nil {
		return nil, err
	}
	if len(sh.media.status) == 0 {
		return nil, fmt.Errorf("%w on %s", ceremony.ErrNothingStaged, sh.media.dir)
	}
	s := &publishState{}
	media := sh.media.dir
	f := newFlow(sh, "publish", "Publish", media,
		append([]*step{roomStep(),
			&step{
				title: "Check that every threshold is met",
				kind:  stepAck,
				body: func(f *flow) string {
					b := statusText(f.sh.st, f.sh.media.status, f.sh.width)
					if !allReady(f.sh.media.status) {
						b += "\n" + f.sh.st.warn.Render("Not every threshold is met: publish will refuse and say what is missing.") + "\n"
					}
					return b
				},
				ack:      func(f *flow) string { return "thresholds checked before publishing" },
				finalKey: "publish",
				run: func(f *flow) jobFunc {
					now, roots := f.now(), f.sh.opts.AttestationRoots
					return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
						ws, err := openWS(ctx, media)
						if err != nil {
							return nil, err
						}
						files, err := ceremony.Publish(ws, now)
						if err != nil {
							return nil, err
						}
						rep, err := ceremony.Verify(media, ceremony.VerifyOptions{At: now, AttestationRoots: roots})
						return publishResult{files: files, report: rep}, err
					}
				},
				done: func(f *flow, res any) error {
					r := res.(publishResult)
					s.files, s.report = r.files, r.report
					return nil
				},
			},
			&step{
				title: "Published; verified as a TUF client would",
				kind:  stepAck,
				body: func(f *flow) string {
					var b strings.Builder
					for _, p := range s.files {
						b.WriteString(fmt.Sprintf("%s %s  sha256 %s…\n", f.sh.st.ok.Render("✓"), p.File, p.SHA256[:16]))
					}
					b.WriteString("\n" + verifyText(f.sh.st, s.report, f.sh.width))
					return b.String()
				},
				ack: func(f *flow) string {
					ok := "verify found no problem"
					if !s.report.OK() {
						ok = fmt.Sprintf("verify found %d problem(s)", len(s.report.Problems))
					}
					return fmt.Sprintf("published %d file(s); %s", len(s.files), ok)
				},
			},
		}, recordSteps(media, &s.recordPath, &s.recordHead)...)...,
	)
	return f, nil
}

// recordSteps write the ceremony record and show where it went.
func recordSteps(media string, recordPath, recordHead *string) []*step {
	return []*step{
		{
			title:  "Write the ceremony record",
			kind:   stepInput,
			prompt: "record file: ",
			body: func(f *flow) string {
				return wrap("The record lists the participants, tokens by serial, keys and their evidence, the published files with their SHA-256, the verification and the transcript's final hash, with lines for the witnesses' signatures. Print it and sign it.", f.sh.width)
			},
			initial: func(f *flow) string {
				dir := f.sh.opts.ReportDir
				if dir == "" {
					dir = filepath.Dir(filepath.Clean(media))
				}
				return filepath.Join(dir, "ceremony-record-"+f.now().UTC().Format("20060102-150405")+".md")
			},
			submit: func(f *flow, v string) error {
				if v == "" {
					return errors.New("type where to write the record")
				}
				*recordPath = v
				return nil
			},
			run: func(f *flow) jobFunc {
				out, now, roots := *recordPath, f.now(), f.sh.opts.AttestationRoots
				return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
					return writeRecord(ctx, media, out, now, roots)
				}
			},
			done: func(f *flow, res any) error {
				*recordHead = res.(string)
				return nil
			},
		},
		{
			title: "Ceremony record written",
			kind:  stepAck,
			body: func(f *flow) string {
				return "Written to " + f.sh.st.heading.Render(*recordPath) + "\n\n" + *recordHead
			},
			ack:      func(f *flow) string { return "ceremony record written to " + *recordPath },
			finalKey: "finish",
		},
	}
}

// writeRecord writes the Markdown record atomically and returns its first
// lines.
func writeRecord(ctx context.Context, media, out string, now time.Time, roots *x509.CertPool) (string, error) {
	ws, err := openWS(ctx, media)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".record-*")
	if err != nil {
		return "", fmt.Errorf("failed to write the record: %w", err)
	}
	defer os.Remove(tmp.Name())
	var b strings.Builder
	if err := ceremony.Report(&b, ws, now, roots); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("failed to write the record: %w", err)
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) > 12 {
		lines = append(lines[:12], "…")
	}
	return strings.Join(lines, "\n"), nil
}
