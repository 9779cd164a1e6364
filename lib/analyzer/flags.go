package analyzer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/stage"
)

// ClientFlags are the credentials and TLS flags of every tool that
// connects to the analyzer.
func ClientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "username", EnvVars: []string{"SKY_ANALYZER_USERNAME"}, Usage: "basic auth `USER`"},
		&cli.StringFlag{Name: "password", EnvVars: []string{"SKY_ANALYZER_PASSWORD"}, Usage: "basic auth `PASSWORD` (better from the environment; never logged)"},
		&cli.StringFlag{Name: "ca-file", EnvVars: []string{"SKY_ANALYZER_CA_FILE"}, TakesFile: true, Usage: "trust the CA certificates in `FILE` (PEM) for wss://"},
		&cli.StringFlag{Name: "cert-file", EnvVars: []string{"SKY_ANALYZER_CERT_FILE"}, TakesFile: true, Usage: "client certificate `FILE` (PEM)"},
		&cli.StringFlag{Name: "key-file", EnvVars: []string{"SKY_ANALYZER_KEY_FILE"}, TakesFile: true, Usage: "client key `FILE` (PEM)"},
		&cli.BoolFlag{Name: "insecure-skip-verify", EnvVars: []string{"SKY_ANALYZER_INSECURE"}, Usage: "do not verify the analyzer's certificate (insecure)"},
	}
}

// DefaultHostID is an X-Host-ID unique to this process:
// HOSTNAME-PROGRAM-PID.
func DefaultHostID(program string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return host + "-" + program + "-" + strconv.Itoa(os.Getpid())
}

// Endpoints are the subscription URLs of the --analyzer addresses.
func Endpoints(addrs []string) ([]*url.URL, error) {
	var urls []*url.URL
	for _, a := range addrs {
		u, err := Endpoint(a)
		if err != nil {
			return nil, stage.Usagef("--analyzer: %w", err)
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// FromFlags sets the credentials and TLS of o from ClientFlags.
func FromFlags(c *cli.Context, o *Options) error {
	o.Username, o.Password = c.String("username"), c.String("password")
	cfg := &tls.Config{InsecureSkipVerify: c.Bool("insecure-skip-verify")}
	if path := c.String("ca-file"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-file %s: no PEM certificate in it", path)
		}
	}
	certFile, keyFile := c.String("cert-file"), c.String("key-file")
	if (certFile == "") != (keyFile == "") {
		return stage.Usagef("--cert-file and --key-file go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	o.TLS = cfg
	return nil
}
