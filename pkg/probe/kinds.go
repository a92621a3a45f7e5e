package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Failure kinds. A request fails with one of these, or with "status NNN"
// (StatusKind) when it was answered with a status outside the expected ones.
const (
	// KindRefused: the connection was refused (nothing listens there, or a
	// proxy rejected it: kube-proxy rejects connections to a Service with
	// no endpoint).
	KindRefused = "refused"
	// KindReset: the connection was reset by the peer (a process killed
	// with the connection open, or a closed listener's backlog).
	KindReset = "reset"
	// KindTimeout: no complete answer within the request timeout.
	KindTimeout = "timeout"
	// KindEOF: the connection was closed before a complete answer came.
	KindEOF = "eof"
	// KindUnreachable: no route to the host or network.
	KindUnreachable = "unreachable"
	// KindDNS: the host name could not be resolved.
	KindDNS = "dns"
	// KindTLS: the TLS handshake failed (certificate, protocol).
	KindTLS = "tls"
	// KindOther: any other error.
	KindOther = "other"
)

// StatusKind is the failure kind of an answer with an unexpected status:
// "status 503".
func StatusKind(status int) string { return fmt.Sprintf("status %d", status) }

// Classify names the kind of a request error. timedOut tells that the
// request's own deadline had passed when it failed (the error a cancelled
// context gives is not always a timeout error).
func Classify(err error, timedOut bool) string {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		record  tls.RecordHeaderError
		alert   tls.AlertError
		netErr  net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return KindReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return KindUnreachable
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return KindTimeout
		}
		return KindDNS
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host),
		errors.As(err, &record), errors.As(err, &alert):
		return KindTLS
	case timedOut, errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return KindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	case strings.Contains(err.Error(), "server closed"), strings.Contains(err.Error(), "connection closed"):
		return KindEOF
	}
	return KindOther
}
