// Package virtualpiv is a software YubiKey for tests and rehearsals: a
// Card answers the YubiKey PIV applet's commands the way piv-go and
// Yubico's yubico-piv-tool use them, with keys generated in software,
// real PIN and PUK retry counters, a touch sensor either automatic or
// waiting for Touch, and attestation certificates issued by a vendor CA of
// its own ("Virtual YubiKey CA, NOT Yubico"), so that a virtual key is
// never mistaken for a real one. A Connector plugs a Card into pcscd
// through the vpcd virtual reader (Debian package vsmartcard-vpcd).
//
// A State holds the PIN, PUK, management key and private keys in clear:
// it is a test device, never one for a real ceremony.
//
// The command cmd/virtual-yubikey runs one card as a process (hsm/pivtest
// starts those for tests); the TUI's rehearsal runs its cards in its own
// process with this package.
package virtualpiv
