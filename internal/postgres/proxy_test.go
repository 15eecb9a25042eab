package postgres

import (
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Codes of the first message of a PostgreSQL connection.
const (
	sslRequestCode    = 80877103
	gssencRequestCode = 80877104
	cancelRequestCode = 80877102
)

// startRefusingProxy starts a TCP proxy to the server of dsn that behaves like
// PgBouncer with a run-time parameter it does not support: a connection whose
// startup message carries param is refused with SQLSTATE 08P01; any other is
// relayed untouched. It returns dsn pointed at the proxy, without TLS.
func startRefusingProxy(t *testing.T, dsn, param string) string {
	t.Helper()
	u := startProxy(t, dsn, func(client net.Conn, target string) { relay(client, target, param) })
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// startProxy listens on a free loopback port and hands every connection to
// serve, with the address of the server of dsn, until the test ends; it
// returns dsn pointed at the proxy. serve owns the client connection.
func startProxy(tb testing.TB, dsn string, serve func(client net.Conn, target string)) *url.URL {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(c, target) })
		}
	})
	u.Host = ln.Addr().String()
	return u
}

func relay(client net.Conn, target, param string) {
	defer client.Close()
	var msg []byte
	for {
		var err error
		if msg, err = readStartup(client); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(msg[4:8])
		if code != sslRequestCode && code != gssencRequestCode {
			break
		}
		if _, err := client.Write([]byte{'N'}); err != nil {
			return
		}
	}
	if binary.BigEndian.Uint32(msg[4:8]) != cancelRequestCode && hasStartupParam(msg[8:], param) {
		_, _ = client.Write(errorResponse("FATAL", "08P01", "unsupported startup parameter: "+param))
		return
	}
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	if _, err := server.Write(msg); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(server, client)
		_ = server.Close()
		close(done)
	}()
	_, _ = io.Copy(client, server)
	_ = client.Close()
	<-done
}

// readStartup reads one length-prefixed message without a type byte, as the
// first messages of a connection are, and returns it whole.
func readStartup(r io.Reader) ([]byte, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head)
	if n < 8 || n > 10000 {
		return nil, io.ErrUnexpectedEOF
	}
	msg := make([]byte, n)
	copy(msg, head)
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// hasStartupParam reports whether the parameters of a startup message (after
// its protocol version: key NUL value NUL …, NUL) include key.
func hasStartupParam(params []byte, key string) bool {
	fields := strings.Split(string(params), "\x00")
	for i := 0; i+1 < len(fields) && fields[i] != ""; i += 2 {
		if fields[i] == key {
			return true
		}
	}
	return false
}

// errorResponse encodes an ErrorResponse message.
func errorResponse(severity, code, message string) []byte {
	var body []byte
	for _, f := range []struct {
		tag byte
		val string
	}{{'S', severity}, {'V', severity}, {'C', code}, {'M', message}} {
		body = append(body, f.tag)
		body = append(body, f.val...)
		body = append(body, 0)
	}
	body = append(body, 0)
	msg := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	return append(msg, body...)
}
