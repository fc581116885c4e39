package virtualpiv

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// vpcd control messages: one-byte payloads from the reader.
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

// Connector plays a Card in pcscd's vpcd reader: it connects to the
// reader's TCP port as the card, answers the reader's messages, and
// connects again whenever the connection ends (pcscd restarted), until
// its context is done. A closed connection is a removed card.
type Connector struct {
	Addr  string
	Card  *Card
	Logf  func(format string, args ...any)
	Retry time.Duration // pause between connection attempts (default 200ms)
	// OnConnect, if set, is called each time a connection is established.
	OnConnect func()
}

// Run serves the card until ctx is done. It returns nil then, and an
// error only for an address that can never work.
func (v *Connector) Run(ctx context.Context) error {
	if _, _, err := net.SplitHostPort(v.Addr); err != nil {
		return fmt.Errorf("vpcd address %q: %w", v.Addr, err)
	}
	retry := v.Retry
	if retry <= 0 {
		retry = 200 * time.Millisecond
	}
	logf := v.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	waiting := false
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", v.Addr)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return nil
		}
		if err != nil {
			if !waiting {
				logf("waiting for pcscd's vpcd reader at %s (%v)", v.Addr, err)
				waiting = true
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retry):
			}
			continue
		}
		waiting = false
		logf("card inserted: connected to vpcd at %s", v.Addr)
		if v.OnConnect != nil {
			v.OnConnect()
		}
		err = v.serve(ctx, conn)
		if ctx.Err() != nil {
			logf("card removed: shutting down")
			return nil
		}
		logf("vpcd connection ended (%v); reconnecting", err)
	}
}

// serve answers the reader on one connection until it ends or ctx is done.
func (v *Connector) serve(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	v.Card.PowerCycle()
	defer v.Card.PowerCycle()
	r := bufio.NewReader(quickACKReader{conn})
	for {
		msg, err := readFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("closed by pcscd")
			}
			return err
		}
		var reply []byte
		if len(msg) == 1 {
			switch msg[0] {
			case vpcdPowerOff, vpcdPowerOn, vpcdReset:
				v.Card.PowerCycle()
				continue
			case vpcdGetATR:
				reply = v.Card.ATR()
			default:
				return fmt.Errorf("unknown vpcd control message %#x", msg[0])
			}
		} else {
			reply = v.Card.Process(msg)
		}
		if err := writeFrame(conn, reply); err != nil {
			return err
		}
	}
}

// readFrame reads one vpcd message: a 2-byte big-endian length and a payload.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

// writeFrame writes one vpcd message.
func writeFrame(w io.Writer, msg []byte) error {
	if len(msg) > 0xffff {
		return fmt.Errorf("vpcd message of %d bytes is too long", len(msg))
	}
	buf := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	_, err := w.Write(append(buf, msg...))
	return err
}

// quickACKReader re-arms quick ACK mode before each read.
type quickACKReader struct{ conn net.Conn }

func (q quickACKReader) Read(p []byte) (int, error) {
	quickACK(q.conn)
	n, err := q.conn.Read(p)
	quickACK(q.conn)
	return n, err
}
