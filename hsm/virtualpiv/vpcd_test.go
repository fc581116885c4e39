package virtualpiv

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// fakeReader plays pcscd's vpcd side: it listens, and the card connects.
type fakeReader struct {
	t    *testing.T
	ln   net.Listener
	conn net.Conn
	r    *bufio.Reader
}

func newFakeReader(t *testing.T) *fakeReader {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeReader{t: t, ln: ln}
}

func (f *fakeReader) accept() {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	f.conn, f.r = c, bufio.NewReader(c)
	f.t.Cleanup(func() { c.Close() })
}

func (f *fakeReader) send(msg []byte) {
	f.t.Helper()
	if err := writeFrame(f.conn, msg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeReader) exchange(msg []byte) []byte {
	f.t.Helper()
	f.send(msg)
	f.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := readFrame(f.r)
	if err != nil {
		f.t.Fatal(err)
	}
	return reply
}

func TestConnectorSpeaksVPCD(t *testing.T) {
	reader := newFakeReader(t)
	h := newHarness(t, "5.7.1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	connects := make(chan struct{}, 4)
	v := &Connector{Addr: reader.ln.Addr().String(), Card: h.card, Retry: 20 * time.Millisecond, OnConnect: func() { connects <- struct{}{} }}
	go func() { done <- v.Run(ctx) }()

	reader.accept()
	if atr := reader.exchange([]byte{vpcdGetATR}); !bytes.Equal(atr, atrYubiKey5) {
		t.Fatalf("ATR %x", atr)
	}
	reader.send([]byte{vpcdPowerOn}) // no reply
	sel := append([]byte{0, insSelect, 4, 0, 5}, aidPIV[:5]...)
	if r := reader.exchange(sel); !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT: %x", r)
	}
	if r := reader.exchange([]byte{0, insGetVersion, 0, 0, 0}); !bytes.Equal(r, []byte{5, 7, 1, 0x90, 0}) {
		t.Fatalf("GET VERSION: %x", r)
	}
	// Reset powers the card down and up: nothing is selected any more.
	reader.send([]byte{vpcdReset})
	if r := reader.exchange([]byte{0, insGetVersion, 0, 0, 0}); !bytes.Equal(r, []byte{0x6d, 0x00}) {
		t.Fatalf("GET VERSION after reset: %x", r)
	}

	// pcscd goes away and comes back: the card connects again.
	reader.conn.Close()
	reader.accept()
	if atr := reader.exchange([]byte{vpcdGetATR}); !bytes.Equal(atr, atrYubiKey5) {
		t.Fatalf("ATR after reconnect %x", atr)
	}
	if len(connects) != 2 {
		t.Errorf("%d connections, want 2", len(connects))
	}

	// An unknown control byte ends the connection, not the card.
	reader.send([]byte{0x7f})
	reader.accept()

	// Stopping closes the connection: pcscd sees the card removed.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	reader.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := readFrame(reader.r); err == nil {
		t.Fatal("connection still open after the card stopped")
	}
}

func TestConnectorWaitsForPCSCD(t *testing.T) {
	// Nothing listens yet: the card retries until the reader appears.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := newHarness(t, "5.7.1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	logCh := make(chan string, 16)
	v := &Connector{Addr: addr, Card: h.card, Retry: 20 * time.Millisecond, Logf: func(f string, a ...any) { logCh <- f }}
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	select {
	case l := <-logCh:
		logs.WriteString(l)
	case <-time.After(5 * time.Second):
		t.Fatal("no log line while waiting")
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("waiting")) {
		t.Errorf("log %q", logs.String())
	}
}

func TestConnectorRejectsBadAddress(t *testing.T) {
	v := &Connector{Addr: "no-port", Card: NewCard(CardOptions{State: &State{}})}
	if err := v.Run(context.Background()); err == nil {
		t.Fatal("accepted an address without a port")
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	writeFrame(&buf, []byte{1, 2, 3})
	if !bytes.Equal(buf.Bytes(), []byte{0, 3, 1, 2, 3}) {
		t.Fatalf("frame %x", buf.Bytes())
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 5, 1})); err == nil {
		t.Fatal("short frame accepted")
	}
	if err := writeFrame(&buf, make([]byte, 70000)); err == nil {
		t.Fatal("oversized frame accepted")
	}
}
