package ceremony

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// A review holds no changes: it counts them, and hands every one, in
// order, each time it is read; they are the diff of the staged file
// against the published one.
func TestSignReviewStreamsEveryChange(t *testing.T) {
	store := softhsmtest.New(t, "alice", "bob")
	ctx := context.Background()
	dir := t.TempDir()
	ws, open := aliceBobCeremony(t, ctx, store, dir, filepath.Join(dir, "media"))
	sign := func(label string) *recordingPrompter {
		t.Helper()
		tk, pin, err := open(ctx, "pkcs11:token="+label)
		if err != nil {
			t.Fatal(err)
		}
		defer tk.Close()
		rec := &recordingPrompter{}
		if _, err := Sign(ctx, ws, tk, rec, SignOptions{Unlock: UnlockOptions{PIN: pin}}); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	sign("alice")
	sign("bob")
	if _, err := Publish(ws, time.Now()); err != nil {
		t.Fatal(err)
	}

	add := map[string]string{}
	for i := range 5 {
		f := filepath.Join(dir, fmt.Sprintf("artifact-%d", i))
		if err := os.WriteFile(f, []byte(strings.Repeat("x", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		add[fmt.Sprintf("pkg/%d.tar.gz", i)] = f
	}
	if _, err := ProposeTargets(ws, TargetsChange{Add: add}); err != nil {
		t.Fatal(err)
	}
	published, err := ws.ReadFile("metadata/1.targets.json")
	if err != nil {
		t.Fatal(err)
	}
	staged, err := ws.ReadFile("staged/2.targets.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := DiffFiles(published, staged, nil)
	if err != nil {
		t.Fatal(err)
	}

	rec := sign("bob")
	if len(rec.reviews) != 1 {
		t.Fatalf("%d reviews", len(rec.reviews))
	}
	r := rec.reviews[0]
	if r.Changes != len(want) || r.Changes < 6 { // five targets, the version, the expiry
		t.Fatalf("the review counts %d changes, the diff has %d", r.Changes, len(want))
	}
	for range 2 {
		var got []Change
		if err := r.EachChange(func(c Change) { got = append(got, c) }); err != nil {
			t.Fatal(err)
		}
		// The names of custodians are the only difference with a diff
		// made without them; targets changes have none.
		if len(got) != len(want) {
			t.Fatalf("read %d changes, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].Field == "targets" && !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("change %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	}
	list, err := r.ChangeList()
	if err != nil || len(list) != len(want) {
		t.Fatalf("ChangeList: %d changes, %v", len(list), err)
	}
}
