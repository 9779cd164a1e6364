package analyzer

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultPath is the analyzer's flow subscription endpoint.
const DefaultPath = "/ws/subscriber/flow"

// Refusals of the handshake, in plain words.
var (
	ErrAuth          = errors.New("the analyzer refused the credentials (HTTP 401: wrong or missing --username/--password)")
	ErrForbidden     = errors.New("the analyzer denied this user the flow subscription (HTTP 403: RBAC)")
	ErrHostIDInUse   = errors.New("another subscriber with this host id is connected (HTTP 409: choose another --host-id)")
	ErrNotWebSocket  = errors.New("the address answered without a WebSocket upgrade (HTTP 426: wrong path?)")
	ErrClosedAtStart = errors.New("the analyzer closed the connection right after the upgrade: it refused the subscription headers")
)

// Options are what a subscriber sends in its handshake.
type Options struct {
	HostID     string
	ClientType string
	CaptureID  string // empty: all flows
	Username   string
	Password   string
	TLS        *tls.Config
	Timeout    time.Duration // handshake
	Graph      bool          // a topology subscription: no flow namespace
}

// Namespace is the subscription namespace for a capture id.
func Namespace(captureID string) string {
	if captureID == "" {
		return "flow"
	}
	return "flow/" + captureID
}

// Endpoint turns an analyzer address (host:port, ws://, wss://, http://,
// https://, with or without a path) into its flow subscription URL.
func Endpoint(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "ws://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("analyzer address %q: %w", redact(s), unwrapURLError(err))
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("analyzer address %s: scheme %q: want ws or wss", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("analyzer address %s: no host", u.Redacted())
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultPath
	}
	return u, nil
}

// redact hides a password in an address that did not parse.
func redact(s string) string {
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if scheme := strings.Index(s, "://"); scheme >= 0 && scheme < at {
			return s[:scheme+3] + "xxxxx" + s[at:]
		}
	}
	return s
}

// Credentials split the user info off an analyzer address: they count as
// --username/--password when present.
func Credentials(u *url.URL, o Options) (target url.URL, user, pass string) {
	target, user, pass = *u, o.Username, o.Password
	if target.User != nil {
		user = target.User.Username()
		pass, _ = target.User.Password()
		target.User = nil
	}
	return target, user, pass
}

// Dial subscribes to the analyzer at u. Credentials in u's user info count
// as --username/--password. Errors name neither the address (the caller
// does) nor the password.
func Dial(ctx context.Context, u *url.URL, o Options) (*websocket.Conn, *http.Response, error) {
	target, user, pass := Credentials(u, o)
	h := http.Header{}
	h.Set("X-Host-ID", o.HostID)
	h.Set("X-Client-Type", o.ClientType)
	h.Set("X-Client-Protocol", "json")
	if !o.Graph {
		h.Set("X-Websocket-Namespace", Namespace(o.CaptureID))
	}
	if user != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: o.Timeout,
		TLSClientConfig:  o.TLS,
		ReadBufferSize:   64 << 10,
	}
	conn, resp, err := d.DialContext(ctx, target.String(), h)
	if err == nil {
		return conn, resp, nil
	}
	if resp != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return nil, resp, ErrAuth
		case http.StatusForbidden:
			return nil, resp, ErrForbidden
		case http.StatusConflict:
			return nil, resp, fmt.Errorf("host id %q: %w", o.HostID, ErrHostIDInUse)
		case http.StatusUpgradeRequired:
			return nil, resp, ErrNotWebSocket
		}
		return nil, resp, fmt.Errorf("handshake: HTTP %s", resp.Status)
	}
	return nil, nil, fmt.Errorf("connect: %w", unwrapURLError(err))
}

// unwrapURLError drops the *url.Error layer, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
