// Package natsbus is sky-nats: records published to a NATS JetStream
// stream (publish), and read back out of a durable consumer that many
// workers share (consume), so that capture and storage run on different
// hosts with a replicated stream between them.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/stage"
)

const name = "sky-nats"

// Run is the sky-nats command: sky-nats publish|consume [flags].
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	return RunContext(context.Background(), args, in, out, errw)
}

// RunContext is Run under a parent context, which tests cancel in place
// of a signal.
func RunContext(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	if len(args) > 1 {
		rest := append([]string{name + " " + args[1]}, args[2:]...)
		switch args[1] {
		case "publish":
			return publishStage().RunContext(ctx, rest, in, out, errw)
		case "consume":
			return runConsume(ctx, rest, in, out, errw)
		}
	}
	app := stage.NewApp(name, "publish records to NATS JetStream, and consume them back", stage.IO{In: in, Out: out, Err: errw})
	app.ArgsUsage = "publish|consume [options]"
	app.Description = "sky-nats publish: NDJSON records on stdin, each published to a JetStream subject, counted once the stream acknowledged it.\n" +
		"sky-nats consume: the messages of a durable consumer on stdout, one a line, each acknowledged once the next process read it.\n" +
		"sky-nats publish --help and sky-nats consume --help give their options."
	app.Action = func(c *cli.Context) error {
		if c.NArg() == 0 {
			return stage.Usagef("a command is needed: publish or consume")
		}
		return stage.Usagef("unknown command %q: publish or consume", c.Args().First())
	}
	return stage.ExecuteContext(ctx, app, args)
}

// connFlags are how both commands reach the servers.
func connFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Value: nats.DefaultURL, EnvVars: []string{"SKY_NATS_URL", "NATS_URL"},
			Usage: "the servers, `URL[,URL...]` (nats://[user:password@]host:port, tls://...)"},
		&cli.StringFlag{Name: "creds", EnvVars: []string{"SKY_NATS_CREDS"}, TakesFile: true, Usage: "a user's JWT and NKey seed, the credentials `FILE`"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"SKY_NATS_TOKEN"}, Usage: "an auth `TOKEN` (better from the environment; never printed)"},
		&cli.StringFlag{Name: "ca-file", EnvVars: []string{"SKY_NATS_CA_FILE"}, TakesFile: true, Usage: "trust the CA certificates in `FILE` (PEM)"},
		&cli.StringFlag{Name: "cert", EnvVars: []string{"SKY_NATS_CERT"}, TakesFile: true, Usage: "a client certificate `FILE` (PEM), with --key"},
		&cli.StringFlag{Name: "key", EnvVars: []string{"SKY_NATS_KEY"}, TakesFile: true, Usage: "the client certificate's key `FILE` (PEM)"},
		&cli.DurationFlag{Name: "max-backoff", Value: 5 * time.Second, EnvVars: []string{"SKY_NATS_MAX_BACKOFF"},
			Usage: "longest wait between attempts while a server is away"},
	}
}

// connect connects to the servers, reconnecting for ever; the first
// connection too is retried while no server answers, unless ctx ends.
func connect(ctx context.Context, c *cli.Context, errw io.Writer, quiet bool) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		// Records wait in sky-nats' own window while away, not in a
		// client buffer that a give-up would drop.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && !quiet {
				fmt.Fprintf(errw, "%s: disconnected (%v); reconnecting\n", name, err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if !quiet {
				fmt.Fprintf(errw, "%s: reconnected to %s\n", name, redact(nc.ConnectedUrl()))
			}
		}),
	}
	if f := c.String("creds"); f != "" {
		opts = append(opts, nats.UserCredentials(f))
	}
	if t := c.String("token"); t != "" {
		opts = append(opts, nats.Token(t))
	}
	if f := c.String("ca-file"); f != "" {
		opts = append(opts, nats.RootCAs(f))
	}
	if c.String("cert") != "" || c.String("key") != "" {
		opts = append(opts, nats.ClientCert(c.String("cert"), c.String("key")))
	}
	// Connected, or refused for good (credentials, TLS), or still trying:
	// the client says which as each attempt ends.
	connected, failed := make(chan struct{}, 1), make(chan error, 1)
	opts = append(opts,
		nats.ConnectHandler(func(*nats.Conn) {
			select {
			case connected <- struct{}{}:
			default:
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && refused(err) {
				select {
				case failed <- err:
				default:
				}
			}
		}))
	servers := redactList(c.String("server"))
	nc, err := nats.Connect(c.String("server"), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", servers, err)
	}
	if err := nc.LastError(); err != nil && refused(err) { // the first attempt
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", servers, err)
	}
	select {
	case <-connected:
		return nc, nil
	case err := <-failed:
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", servers, err)
	case <-ctx.Done():
		nc.Close()
		return nil, fmt.Errorf("nats %s: stopped before a server answered", servers)
	}
}

// refused tells the errors no retry mends: credentials, permissions, TLS.
func refused(err error) bool {
	s := strings.ToLower(err.Error())
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrPermissionViolation) ||
		strings.Contains(s, "authorization") || strings.Contains(s, "authentication") || strings.Contains(s, "x509") ||
		strings.Contains(s, "tls")
}

// redact hides a URL's password and token.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, has := p.User.Password(); has {
		p.User = url.UserPassword(p.User.Username(), "xxx")
	} else {
		p.User = url.User("xxx")
	}
	return p.String()
}

func redactList(urls string) string {
	list := strings.Split(urls, ",")
	for i, u := range list {
		list[i] = redact(strings.TrimSpace(u))
	}
	return strings.Join(list, ",")
}
