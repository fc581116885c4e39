package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony/tuftest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tuf-ceremony": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI scripts of testdata/script against real SoftHSM
// tokens. Each script creates its tokens with `softhsm-tokens LABEL...`,
// which sets SOFTHSM2_CONF, $MODULE and a PIN file $WORK/hsm/LABEL.pin.
func TestScripts(t *testing.T) {
	module := softhsmtest.RequireSoftHSM(t)
	_, err := exec.LookPath("pkcs11-tool")
	softhsmtest.Require(t, err == nil, "OpenSC's pkcs11-tool", "opensc")
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(softhsmtest.RepoRoot(), "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("MODULE", module)
			env.Setenv("SOFTHSM2_CONF", filepath.Join(env.WorkDir, "hsm", "softhsm2.conf"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"softhsm-tokens":   cmdSoftHSMTokens,
			"no-secret":        cmdNoSecret,
			"expand":           cmdExpand,
			"keyid":            cmdKeyID,
			"online-key":       cmdOnlineKey,
			"virtual-yubikeys": cmdVirtualYubiKeys,
			"gotuf-refresh":    cmdGoTUFRefresh,
			"tufjs-refresh":    cmdTufJSRefresh,
		},
	})
}

// softhsm-tokens LABEL... creates initialized tokens in $WORK/hsm.
func cmdSoftHSMTokens(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: softhsm-tokens LABEL...")
	}
	dir := ts.MkAbs("hsm")
	cmd := exec.Command("bash", append([]string{softhsmtest.Script("softhsm-tokens.sh"), dir}, args...)...)
	out, err := cmd.CombinedOutput()
	ts.Check(err)
	// $ALICE etc.: the token's URI with its module and PIN file.
	for _, label := range args {
		ts.Setenv(strings.ToUpper(label), "pkcs11:token="+label+"?module-path="+ts.Getenv("MODULE")+"&pin-source=file:"+filepath.Join(dir, label+".pin"))
	}
	if !strings.Contains(string(out), "export SOFTHSM2_CONF="+filepath.Join(dir, "softhsm2.conf")) {
		ts.Fatalf("softhsm-tokens.sh printed %q", out)
	}
}

// no-secret LABEL PATH... fails if the PIN of token LABEL appears in any
// of the files (or directories, recursively) named.
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: no-secret LABEL PATH...")
	}
	pin, err := os.ReadFile(ts.MkAbs(filepath.Join("hsm", args[0]+".pin")))
	ts.Check(err)
	secret := strings.TrimSpace(string(pin))
	for _, p := range args[1:] {
		err := filepath.Walk(ts.MkAbs(p), func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), secret) {
				ts.Fatalf("the PIN of %s appears in %s", args[0], path)
			}
			return nil
		})
		ts.Check(err)
	}
}

// expand IN OUT writes IN with $VARIABLES of the script's environment
// replaced, for files that must name $WORK or $MODULE.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand IN OUT")
	}
	data := ts.ReadFile(args[0])
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(data, ts.Getenv)), 0o644))
}

// keyid MEDIA CUSTODIAN VAR sets $VAR to the key ID of the custodian's
// (newest) key recorded in MEDIA/keys.
func cmdKeyID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: keyid MEDIA CUSTODIAN VAR")
	}
	files, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "keys", "*.json"))
	ts.Check(err)
	var newest string
	var newestAt string
	for _, f := range files {
		var rec struct {
			KeyID     string `json:"keyid"`
			Custodian string `json:"custodian"`
			CreatedAt string `json:"created_at"`
		}
		data, err := os.ReadFile(f)
		ts.Check(err)
		ts.Check(json.Unmarshal(data, &rec))
		if rec.Custodian == args[1] && rec.CreatedAt >= newestAt {
			newest, newestAt = rec.KeyID, rec.CreatedAt
		}
	}
	if newest == "" {
		ts.Fatalf("no key of %s in %s/keys", args[1], args[0])
	}
	ts.Setenv(args[2], newest)
}

// online-key FILE.pem writes a test online key: the public half to FILE.pem
// (for a plan), the private half beside it.
func cmdOnlineKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: online-key FILE.pem")
	}
	_, err := tuftest.NewOnlineKey(ts.MkAbs(args[0]))
	ts.Check(err)
}

// gotuf-refresh METADATA_DIR ONLINE.pem ROOT_VERSION [TARGET_PATH...]
// runs go-tuf v2's client over a ceremony's published metadata, with
// snapshot and timestamp signed by the online key, from 1.root.json; it
// checks the client trusts root ROOT_VERSION and finds every target named.
func cmdGoTUFRefresh(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: gotuf-refresh METADATA_DIR ONLINE.pem ROOT_VERSION [TARGET_PATH...]")
	}
	key, err := tuftest.LoadOnlineKey(ts.MkAbs(args[1]))
	ts.Check(err)
	work, err := os.MkdirTemp(ts.MkAbs("."), "gotuf-")
	ts.Check(err)
	up, err := tuftest.Refresh(ts.MkAbs(args[0]), work, key)
	if err == nil {
		trusted := up.GetTrustedMetadataSet()
		if got := strconv.FormatInt(trusted.Root.Signed.Version, 10); got != args[2] {
			err = fmt.Errorf("the client trusts root v%s, not v%s", got, args[2])
		}
	}
	for _, target := range args[3:] {
		if err != nil {
			break
		}
		_, err = up.GetTargetInfo(target)
	}
	if neg {
		if err == nil {
			ts.Fatalf("go-tuf's client accepted the repository")
		}
		return
	}
	ts.Check(err)
}

// virtual-yubikeys N [--touch wait] starts a private pcscd with N virtual YubiKeys
// (scripts/virtual-yubikeys.sh), sets the environment pcsc-lite clients
// need, $VIRTUAL_YUBIKEYS_CA (their attestation root) and $YK1…$YKN (each
// card's yubikey: URI with the PIN file $WORK/ykI.pin, which holds the PIN
// that `token setup` is given in the scripts: 24681357), and stops them at
// the end of the script.
func cmdVirtualYubiKeys(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: virtual-yubikeys N [--touch wait]")
	}
	dir := ts.MkAbs("vyk")
	cmd := exec.Command("bash", append([]string{softhsmtest.Script("virtual-yubikeys.sh"), "start", "-n", args[0], "-d", dir}, args[1:]...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		ts.Fatalf("virtual-yubikeys.sh: %v\n%s", err, stderr.String())
	}
	ts.Defer(func() { exec.Command("bash", softhsmtest.Script("virtual-yubikeys.sh"), "stop", dir).Run() })
	for _, line := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			ts.Setenv(k, strings.Trim(v, "'\""))
		}
	}
	cards, err := os.ReadFile(filepath.Join(dir, "cards"))
	ts.Check(err)
	for _, line := range strings.Split(strings.TrimSpace(string(cards)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			ts.Fatalf("cards: %q", line)
		}
		pin := ts.MkAbs("yk" + f[0] + ".pin")
		ts.Check(os.WriteFile(pin, []byte("24681357\n"), 0o600))
		ts.Setenv("YK"+f[0], "yubikey:serial="+f[1]+"?pin-source=file:"+pin)
		ts.Setenv("YK"+f[0]+"_SERIAL", f[1])
	}
	ts.Setenv("VIRTUAL_YUBIKEYS_SCRIPT", softhsmtest.Script("virtual-yubikeys.sh"))
}

// tufjs-refresh METADATA_DIR ONLINE.pem ROOT_VERSION [TARGET_PATH...] is
// gotuf-refresh with tuf-js's client (scripts/clients), files only.
func cmdTufJSRefresh(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: tufjs-refresh METADATA_DIR ONLINE.pem ROOT_VERSION [TARGET_PATH...]")
	}
	if err := tuftest.CheckTufJS(); err != nil {
		if os.Getenv(softhsmtest.AllTiersEnv) == "1" {
			ts.Fatalf("needs %v", err)
		}
		ts.Logf("skipped: needs %v", err)
		return
	}
	key, err := tuftest.LoadOnlineKey(ts.MkAbs(args[1]))
	ts.Check(err)
	work, err := os.MkdirTemp(ts.MkAbs("."), "tufjs-")
	ts.Check(err)
	res, err := tuftest.TufJSRefresh(ts.MkAbs(args[0]), work, key, args[3:]...)
	if err != nil && !errors.Is(err, tuftest.ErrRejected) {
		ts.Fatalf("tuf-js could not run: %v", err)
	}
	if err == nil {
		if got := strconv.FormatInt(res.RootVersion, 10); got != args[2] {
			err = fmt.Errorf("tuf-js trusts root v%s, not v%s", got, args[2])
		}
	}
	if neg {
		if err == nil {
			ts.Fatalf("tuf-js accepted the repository")
		}
		return
	}
	ts.Check(err)
}
