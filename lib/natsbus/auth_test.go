package natsbus

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/skyflows/skyflows/lib/stage"
)

// server starts a single nats-server with JetStream for t, with the
// configuration text conf (a %d for its port, a %s for its store), and
// returns its port once it takes connections.
func server(t *testing.T, conf string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return serverOn(t, port, conf)
}

// serverOn is server on port.
func serverOn(t *testing.T, port int, conf string) int {
	t.Helper()
	srv := filepath.Join(must(exec.Command("go", "env", "GOPATH").Output()), "bin", "nats-server")
	if _, err := os.Stat(srv); err != nil {
		srv = "nats-server"
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "server.conf")
	os.WriteFile(file, fmt.Appendf(nil, conf, port, filepath.Join(dir, "js")), 0o600)
	cmd := exec.Command(srv, "-c", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port
		}
		select {
		case <-exited:
			t.Fatalf("nats-server: %v: %s", cmd.ProcessState, out.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("nats-server took no connection in 10 s: %s", out.String())
		}
	}
}

// run runs sky-nats with args on one record and returns its exit code
// and stderr.
func run(args ...string) (int, string) {
	var errw bytes.Buffer
	code := Run(append([]string{"sky-nats"}, args...), strings.NewReader(`{"UUID":"a","Tag":"t"}`+"\n"), io.Discard, &errw)
	return code, errw.String()
}

// TestConnectLater: sky-nats started before any server answers keeps
// trying, and publishes once one does.
func TestConnectLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	done := make(chan string, 1)
	go func() {
		code, errs := run("publish", "--server", fmt.Sprintf("nats://127.0.0.1:%d", port), "--create-stream", "L", "--subject", "l.{Tag}")
		done <- fmt.Sprintf("exit %d: %s", code, errs)
	}()
	// Its first attempt reaches a port that answers nothing; then a server
	// takes the port.
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ln.Close()
	select {
	case res := <-done:
		t.Fatalf("sky-nats ended before a server answered: %s", res)
	default:
	}
	serverOn(t, port, "listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n")
	if res := <-done; !strings.HasPrefix(res, "exit 0") || !strings.Contains(res, "out 1 ") {
		t.Errorf("%s", res)
	}
}

// TestCredentials: a server that wants a password refuses a wrong one
// (exit 1, a plain line) and the password never appears in any output.
func TestCredentials(t *testing.T) {
	port := server(t, "listen: 127.0.0.1:%d\njetstream { store_dir: %q }\nauthorization { user: u, password: right-secret }\n")
	code, errs := run("publish", "--server", fmt.Sprintf("nats://u:wrong-secret@127.0.0.1:%d", port))
	if code != 1 || !strings.Contains(strings.ToLower(errs), "authorization violation") || strings.Contains(errs, "wrong-secret") {
		t.Errorf("refused credentials: exit %d: %s", code, errs)
	}
	code, errs = run("publish", "--server", fmt.Sprintf("nats://u:right-secret@127.0.0.1:%d", port), "--create-stream", "S", "--subject", "s.{Tag}")
	if code != 0 || strings.Contains(errs, "right-secret") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// TestToken: a server that wants a token takes --token (or
// SKY_NATS_TOKEN) and refuses a wrong one, exit 1, never printed.
func TestToken(t *testing.T) {
	port := server(t, "listen: 127.0.0.1:%d\njetstream { store_dir: %q }\nauthorization { token: right-token }\n")
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	code, errs := run("publish", "--server", url, "--token", "wrong-token", "--subject", "s.{Tag}")
	if code != 1 || !strings.Contains(strings.ToLower(errs), "authorization violation") || strings.Contains(errs, "wrong-token") {
		t.Errorf("a wrong token: exit %d: %s", code, errs)
	}
	t.Setenv("SKY_NATS_TOKEN", "right-token")
	code, errs = run("publish", "--server", url, "--create-stream", "S", "--subject", "s.{Tag}")
	if code != 0 || !strings.Contains(errs, "out 1 ") || strings.Contains(errs, "right-token") {
		t.Errorf("SKY_NATS_TOKEN: exit %d: %s", code, errs)
	}
}

// TestCredsFile: a server in operator mode takes a user's credentials
// file (JWT and NKey seed); a user of an account it does not know is
// refused, exit 1, and no seed is ever printed.
func TestCredsFile(t *testing.T) {
	operator, _ := nkeys.CreateOperator()
	opPub, _ := operator.PublicKey()
	opClaims := jwt.NewOperatorClaims(opPub)
	opJWT, err := opClaims.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	account := func(jetstream bool) (nkeys.KeyPair, string, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		claims := jwt.NewAccountClaims(pub)
		if jetstream {
			claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := claims.Encode(operator)
		if err != nil {
			t.Fatal(err)
		}
		return kp, pub, token
	}
	creds := func(acct nkeys.KeyPair, name string) (string, string) {
		user, _ := nkeys.CreateUser()
		pub, _ := user.PublicKey()
		seed, _ := user.Seed()
		claims := jwt.NewUserClaims(pub)
		claims.Name = name
		token, err := claims.Encode(acct)
		if err != nil {
			t.Fatal(err)
		}
		file, err := jwt.FormatUserConfig(token, seed)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".creds")
		os.WriteFile(path, file, 0o600)
		return path, string(seed)
	}
	acct, acctPub, acctJWT := account(true)
	_, sysPub, sysJWT := account(false) // JetStream needs a system account
	stranger, _, _ := account(true)     // never told to the server
	port := server(t, "listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n"+
		fmt.Sprintf("operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: { %s: %s, %s: %s }\n",
			opJWT, sysPub, acctPub, acctJWT, sysPub, sysJWT))
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	good, _ := creds(acct, "capture")
	if code, errs := run("publish", "--server", url, "--creds", good, "--create-stream", "S", "--subject", "s.{Tag}"); code != 0 || !strings.Contains(errs, "out 1 ") {
		t.Errorf("with the credentials file: exit %d: %s", code, errs)
	}
	if code, errs := run("publish", "--server", url, "--subject", "s.{Tag}"); code != 1 || !strings.Contains(strings.ToLower(errs), "authorization violation") {
		t.Errorf("without: exit %d: %s", code, errs)
	}
	bad, seed := creds(stranger, "stranger")
	code, errs := run("publish", "--server", url, "--creds", bad, "--subject", "s.{Tag}")
	if code != 1 || !strings.Contains(strings.ToLower(errs), "authorization violation") || strings.Contains(errs, seed) {
		t.Errorf("an unknown account's user: exit %d: %s", code, errs)
	}
	if code, errs := run("consume", "--server", url, "--creds", filepath.Join(t.TempDir(), "none.creds"), "--stream", "S"); code != 1 || !strings.Contains(errs, "none.creds") {
		t.Errorf("a missing credentials file: exit %d: %s", code, errs)
	}
}

// pki is a CA and the certificates it signed, as PEM files in a directory.
type pki struct {
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.key, p.cert = p.issue(t, "ca", &x509.Certificate{IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true})
	return p
}

// issue writes NAME.pem and NAME-key.pem for tmpl, signed by the CA (or
// by itself, for the CA).
func (p *pki) issue(t *testing.T, name string, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.Subject = pkix.Name{CommonName: name}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if p.cert != nil {
		parent, signer = p.cert, p.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(p.path(name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(p.path(name+"-key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return key, cert
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name+".pem") }

// TestTLS: a server that verifies client certificates: --ca-file,
// --cert and --key reach it; the server's certificate is verified (a CA
// not given: exit 1 at once, naming the cause), and without a client
// certificate the server refuses.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	p.issue(t, "server", &x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.issue(t, "client", &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	port := server(t, "listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n"+
		fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }\n", p.path("server"), p.path("server-key"), p.path("ca")))
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	client := []string{"--ca-file", p.path("ca"), "--cert", p.path("client"), "--key", p.path("client-key")}

	if code, errs := run(append([]string{"publish", "--server", url, "--create-stream", "S", "--subject", "s.{Tag}"}, client...)...); code != 0 || !strings.Contains(errs, "out 1 ") {
		t.Errorf("with the CA and a client certificate: exit %d: %s", code, errs)
	}
	if code, errs := run("publish", "--server", url, "--cert", p.path("client"), "--key", p.path("client-key"), "--subject", "s.{Tag}"); code != 1 || !strings.Contains(errs, "certificate signed by unknown authority") {
		t.Errorf("the server's certificate not verified: exit %d: %s", code, errs)
	}
	if code, errs := run("consume", "--server", url, "--ca-file", p.path("ca"), "--stream", "S"); code != 1 || !strings.Contains(strings.ToLower(errs), "tls") {
		t.Errorf("no client certificate: exit %d: %s", code, errs)
	}
	// The record published comes back out over TLS.
	ctx, stop := context.WithCancel(context.Background())
	out, errw := &stage.LockedWriter{W: &bytes.Buffer{}}, &stage.LockedWriter{W: &bytes.Buffer{}}
	done := make(chan int)
	go func() {
		done <- RunContext(ctx, append([]string{"sky-nats", "consume", "--server", url, "--stream", "S"}, client...), nil, out, errw)
	}()
	waitFor(t, "the record consumed", func() bool { return strings.Contains(text(out), `"UUID":"a"`) })
	stop()
	if code := <-done; code != 0 {
		t.Errorf("consume over TLS: exit %d: %s", code, text(errw))
	}
}
