package main

import (
	"errors"
	"io/fs"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

// hintsFor says what to do next about err, one line per hint.
func hintsFor(err error) []string {
	var uriErr *pkcs11.URIError
	var schemeErr *hsm.UnknownSchemeError
	var hinted interface{ Hints() []string }
	var planErr *ceremony.PlanError
	switch {
	case errors.As(err, &hinted):
		return hinted.Hints()
	case errors.As(err, &uriErr):
		if uriErr.Hint != "" {
			return []string{uriErr.Hint}
		}
		return []string{"token addresses look like pkcs11:token=alice?module-path=/usr/lib/softhsm/libsofthsm2.so"}
	case errors.As(err, &schemeErr):
		return []string{"token addresses look like pkcs11:token=alice?module-path=/usr/lib/softhsm/libsofthsm2.so"}
	case errors.Is(err, hsm.ErrModule):
		return []string{"name a PKCS#11 module by its absolute path (--module PATH, or ?module-path=PATH in a token URI); SoftHSM's is /usr/lib/softhsm/libsofthsm2.so (apt-get install softhsm2)"}
	case errors.Is(err, hsm.ErrTokenNotFound):
		return []string{"list the tokens present with: tuf-ceremony tokens", "is the right token inserted, and SOFTHSM2_CONF set for SoftHSM?"}
	case errors.Is(err, hsm.ErrAmbiguousToken):
		return []string{"add serial=… to the token URI to choose one (tuf-ceremony tokens shows the serials)"}
	case errors.Is(err, hsm.ErrFinalTry):
		return []string{"one more wrong PIN locks the token; if you are certain of the PIN, run again with --force-pin"}
	case errors.Is(err, hsm.ErrPINLocked):
		return []string{"the token's security officer must unblock the PIN (for SoftHSM: softhsm2-util; for a YubiKey: the PUK)"}
	case errors.Is(err, hsm.ErrPINIncorrect):
		return []string{"check the PIN (or the pin-source file); the token locks after too many wrong PINs"}
	case errors.Is(err, hsm.ErrLabelExists):
		return []string{"choose another label with ;object=NAME in the token URI, or leave object= out for a fresh one"}
	case errors.Is(err, hsm.ErrUnsupported):
		return []string{"choose another --algorithm; ecdsa-p256 is supported by nearly every token"}
	case errors.Is(err, hsm.ErrTokenRemoved):
		return []string{"reinsert the token and run the command again; nothing was written"}
	case errors.Is(err, errNoTerminal):
		return []string{"run on a terminal, or give the PIN with pin-source=file:/path in the token URI and confirmations with --yes"}
	case errors.Is(err, errVerifyFailed):
		return []string{"the problems are listed above; nothing was changed"}
	case errors.Is(err, ceremony.ErrNothingStaged):
		return []string{"stage something first: tuf-ceremony init (a new repository) or propose"}
	case errors.Is(err, ceremony.ErrWrongToken):
		return []string{"insert the token of one of the custodians named, or see who still has to sign with: tuf-ceremony status"}
	case errors.Is(err, ceremony.ErrAlreadySigned):
		return []string{"see who still has to sign with: tuf-ceremony status"}
	case errors.Is(err, ceremony.ErrNotPublishable):
		return []string{"nothing was written; see who still has to sign with tuf-ceremony status, and fix what else is listed"}
	case errors.Is(err, ceremony.ErrTampered):
		return []string{"tuf-ceremony discard --media DIR FILE removes it; then propose again"}
	case errors.Is(err, ceremony.ErrSumsMismatch):
		return []string{"the medium no longer matches its SHA256SUMS: find out who changed what (tuf-ceremony verify, the transcript) before going on"}
	case errors.Is(err, ceremony.ErrChangedMeanwhile):
		return []string{"another tuf-ceremony command changed the workspace while this one ran; nothing was written"}
	case errors.Is(err, ceremony.ErrCommitPending):
		return []string{"run tuf-ceremony status --media DIR to complete it, then check the result"}
	case errors.Is(err, ceremony.ErrAlreadyInitialized):
		return []string{"init starts a new repository; use a new --media directory, or propose changes to this one"}
	case errors.Is(err, ceremony.ErrOtherPlan):
		return []string{"compare the two plans (diff), agree which one holds, and keep only that one; no token was touched"}
	case errors.Is(err, ceremony.ErrNotVerified):
		return []string{"tuf-ceremony verify SOURCE shows the details; nothing was imported"}
	case errors.Is(err, ceremony.ErrMergeConflict):
		return []string{"both copies must hold the same proposal: the other medium was changed, or holds another proposal; nothing was merged"}
	case errors.Is(err, ceremony.ErrAlreadyStaged):
		return []string{"see where it stands with tuf-ceremony status; to drop it instead: tuf-ceremony discard --media DIR FILE"}
	case errors.Is(err, ceremony.ErrNothingToChange):
		return []string{"name a change (--add-key, --revoke-key, --threshold, --add-target, …), or --expires for a renewal"}
	case errors.Is(err, ceremony.ErrUnusableProposal):
		return []string{"every role needs at least one key and a threshold no higher than its keys; adjust --add-key, --revoke-key or --threshold"}
	case errors.Is(err, ceremony.ErrMediaUnusable):
		return []string{"--media must be a directory you can write to (an empty one, a new path, or an existing workspace)"}
	case errors.Is(err, ceremony.ErrWorkspaceLocked):
		return []string{"wait for the other tuf-ceremony command on this medium to finish"}
	case errors.As(err, &planErr):
		return []string{"fix the plan and run the command again; nothing was written"}
	case errors.Is(err, hsm.ErrPINSource):
		return []string{"pin-source=file:/absolute/path names a file holding only the PIN; never write pin-value in a plan or a script"}
	case errors.Is(err, ceremony.ErrNoWorkspace):
		return []string{"--media must be an empty directory, a new path, or an existing tuf-ceremony workspace"}
	case errors.Is(err, fs.ErrPermission):
		return []string{"choose a --media directory you can write to"}
	case errors.Is(err, fs.ErrNotExist):
		return []string{"check the path: is the medium mounted, and is --media the workspace directory (the one holding transcript.jsonl)?"}
	}
	return nil
}
