package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// unavailable reports whether err says the database cannot be reached right
// now — refused or dropped connections, a server shutting down or starting
// up, too many clients — rather than that a statement was wrong. Such
// errors become 503, so a client knows to retry; the pool reconnects on
// its own once the server is back.
func unavailable(err error) bool {
	for _, target := range []error{driver.ErrBadConn, sql.ErrConnDone, io.ErrUnexpectedEOF, net.ErrClosed,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED} {
		if errors.Is(err, target) {
			return true
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-03: admin or crash
		// shutdown, cannot connect now; 53300: too many connections.
		switch {
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var oe *net.OpError
	if errors.As(err, &ce) || errors.As(err, &oe) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection reset", "broken pipe", "unexpected EOF", "failed to connect",
		"connection refused", "server closed the connection", "the database system is"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
