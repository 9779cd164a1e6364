package natsbus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/stage"
)

func publishStage() stage.Lines {
	return stage.Lines{
		Name:  name + " publish",
		Usage: "publish NDJSON records to a NATS JetStream stream, each counted once the stream acknowledged it",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "subject", Value: "flows.{Tag}", EnvVars: []string{"SKY_NATS_SUBJECT"},
				Usage: "the `TEMPLATE` of each record's subject: text and {Field.Path} values, each cleaned into one token"},
			&cli.StringFlag{Name: "msg-id", Value: "UUID,Last", EnvVars: []string{"SKY_NATS_MSG_ID"},
				Usage: "the `FIELDS` whose values make the Nats-Msg-Id, so that the stream keeps one of the same record published twice (redundant capture hosts) within its duplicate window"},
			&cli.IntFlag{Name: "window", Value: 4096, EnvVars: []string{"SKY_NATS_WINDOW"},
				Usage: "at most `N` records published and not yet acknowledged; stdin is not read while they are"},
			&cli.StringFlag{Name: "create-stream", EnvVars: []string{"SKY_NATS_CREATE_STREAM"},
				Usage: "create the stream `NAME` for the subjects of --subject, or check it, before the first record"},
			&cli.IntFlag{Name: "replicas", Value: 1, EnvVars: []string{"SKY_NATS_REPLICAS"}, Usage: "with --create-stream: `N` copies (3 on a cluster)"},
			&cli.DurationFlag{Name: "max-age", Value: 24 * time.Hour, EnvVars: []string{"SKY_NATS_MAX_AGE"}, Usage: "with --create-stream: keep messages `DURATION` at most"},
			&cli.Int64Flag{Name: "max-bytes", Value: -1, EnvVars: []string{"SKY_NATS_MAX_BYTES"}, Usage: "with --create-stream: `BYTES` at most, new messages refused past them (-1: no limit)"},
			&cli.DurationFlag{Name: "duplicate-window", Value: 2 * time.Minute, EnvVars: []string{"SKY_NATS_DUPLICATE_WINDOW"},
				Usage: "with --create-stream: a Nats-Msg-Id seen within `DURATION` is stored once"},
		}, connFlags()...),
		Does: stage.Instruments | stage.Reports,
		Open: openPublisher,
	}
}

// publisher publishes records asynchronously, at most a window of them
// unacknowledged; an acker goroutine waits for their acks in order and
// publishes again what a server away or a new leader lost.
type publisher struct {
	ctx        context.Context
	nc         *nats.Conn
	js         jetstream.JetStream
	subject    *subject
	ids        [][]string
	window     chan struct{} // a token a record in flight
	inflight   chan *pending // in publish order, to the acker
	acked      chan struct{} // closed when the acker is done
	backoff    time.Duration
	drain      time.Duration
	errw       io.Writer
	quiet      bool
	fatalOnce  sync.Once
	fatal      chan struct{} // closed on an error no retry mends
	fatalErr   error
	n          atomic.Int64 // published
	ok, dups   atomic.Int64
	retries    atomic.Int64
	maxPayload int64
}

type pending struct {
	msg *nats.Msg
	f   jetstream.PubAckFuture
}

func openPublisher(c *cli.Context, _ *bufio.Writer) (stage.Processor, error) {
	subj, err := parseSubject(c.String("subject"))
	if err != nil {
		return nil, stage.Usage(err)
	}
	var ids [][]string
	for _, f := range strings.Split(c.String("msg-id"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			ids = append(ids, strings.Split(f, "."))
		}
	}
	if c.Int("window") < 1 {
		return nil, stage.Usagef("--window %d: at least 1", c.Int("window"))
	}
	quiet := c.Bool("quiet")
	errw := &stage.LockedWriter{W: c.App.ErrWriter}
	nc, err := connect(c.Context, c, errw, quiet)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(c.Int("window")+1), jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, err
	}
	p := &publisher{
		ctx: c.Context, nc: nc, js: js, subject: subj, ids: ids,
		window: make(chan struct{}, c.Int("window")), inflight: make(chan *pending, c.Int("window")),
		acked: make(chan struct{}), fatal: make(chan struct{}),
		backoff: c.Duration("max-backoff"), drain: c.Duration("drain-timeout"), errw: errw, quiet: quiet,
		maxPayload: nc.MaxPayload(),
	}
	if name := c.String("create-stream"); name != "" {
		if err := p.createStream(c, name); err != nil {
			nc.Close()
			return nil, err
		}
	}
	go p.ackAll()
	return p, nil
}

// createStream creates the stream for the template's subjects, or
// checks that the one there takes them.
func (p *publisher) createStream(c *cli.Context, name string) error {
	cfg := jetstream.StreamConfig{
		Name: name, Subjects: []string{p.subject.wildcard()}, Storage: jetstream.FileStorage,
		Replicas: c.Int("replicas"), MaxAge: c.Duration("max-age"), MaxBytes: c.Int64("max-bytes"),
		Duplicates: c.Duration("duplicate-window"), Discard: jetstream.DiscardNew,
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		_, err := p.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			var s jetstream.Stream
			if s, err = p.js.Stream(ctx, name); err == nil && !covers(s.CachedInfo().Config.Subjects, cfg.Subjects[0]) {
				err = fmt.Errorf("stream %s takes %s, not %s", name, strings.Join(s.CachedInfo().Config.Subjects, ", "), cfg.Subjects[0])
			}
		}
		cancel()
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &apiErr) && apiErr.Code != 503, p.ctx.Err() != nil, errors.Is(err, jetstream.ErrJetStreamNotEnabled):
			return fmt.Errorf("--create-stream %s: %w", name, err)
		}
		p.say("--create-stream %s: %v; trying again", name, err)
		time.Sleep(stage.Backoff(attempt, p.backoff))
	}
}

// covers tells whether one of subjects is want.
func covers(subjects []string, want string) bool {
	for _, s := range subjects {
		if s == want || s == ">" || strings.HasSuffix(s, ".>") && strings.HasPrefix(want, strings.TrimSuffix(s, ">")) {
			return true
		}
	}
	return false
}

func (p *publisher) say(format string, a ...any) {
	if !p.quiet {
		fmt.Fprintf(p.errw, name+" publish: "+format+"\n", a...)
	}
}

// Record publishes a record once the window has room.
func (p *publisher) Record(line []byte) (bool, error) {
	if len(line) == 0 || line[0] != '{' {
		return false, stage.BadInput(errors.New("not a JSON object"))
	}
	if err := jsonscan.Valid(line); err != nil {
		return false, stage.BadInput(err)
	}
	if int64(len(line)) > p.maxPayload {
		return false, stage.BadInput(fmt.Errorf("a record of %d bytes, over the server's max_payload of %d", len(line), p.maxPayload))
	}
	msg := &nats.Msg{Subject: p.subject.of(line), Data: append([]byte(nil), line...), Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID(line, p.ids))
	select {
	case p.window <- struct{}{}:
	case <-p.fatal:
		return false, p.fatalErr
	}
	pd := &pending{msg: msg}
	p.publish(pd)
	p.inflight <- pd
	p.n.Add(1)
	return true, nil
}

// publish sends a message on its way; a refusal of the client (its own
// buffer full, the connection closed) is tried again with backoff.
func (p *publisher) publish(pd *pending) {
	for attempt := 0; ; attempt++ {
		pd.msg.Reply = "" // the client sets it, and refuses a message with one
		f, err := p.js.PublishMsgAsync(pd.msg)
		if err == nil {
			pd.f = f
			return
		}
		p.retries.Add(1)
		time.Sleep(stage.Backoff(attempt, p.backoff))
	}
}

// ackAll waits for each message's ack, in order, and publishes again
// what came back with an error that waiting mends.
func (p *publisher) ackAll() {
	defer close(p.acked)
	for pd := range p.inflight {
		for attempt := 0; ; attempt++ {
			var err error
			select {
			case ack := <-pd.f.Ok():
				if ack.Duplicate {
					p.dups.Add(1)
				}
				p.ok.Add(1)
			case err = <-pd.f.Err():
			case <-p.fatal:
				err = p.fatalErr
			}
			if err == nil {
				break
			}
			if p.isFatal(pd.msg.Subject, err) {
				p.fail(err)
				break
			}
			p.retries.Add(1)
			// A message's first retry goes at once: those behind it in the
			// window failed with it (an outage, a new leader) and each
			// waits its turn. Another publisher's copy in process, too, is
			// asked again at once: the stream answers duplicate, or stores
			// this one.
			if attempt > 0 && !inProcess(err) {
				if attempt == 1 {
					p.say("%s: %v; publishing again until the stream takes it", pd.msg.Subject, err)
				}
				time.Sleep(stage.Backoff(attempt-1, p.backoff))
			}
			p.publish(pd)
		}
		<-p.window
	}
}

// inProcess tells the refusal of a message whose id the stream is
// storing from another publisher at that moment.
func inProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10158
}

// isFatal tells an error no retry mends: a subject no stream takes, a
// permission refused, a request the stream refuses as such, a closed
// connection. A stream full (its limits), a leader away, a message id in
// process elsewhere are waited out.
func (p *publisher) isFatal(subject string, err error) bool {
	select {
	case <-p.fatal:
		return true
	default:
	}
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrConnectionClosed):
		return true
	case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel()
		_, lookup := p.js.StreamNameBySubject(ctx, subject)
		return errors.Is(lookup, jetstream.ErrStreamNotFound)
	case strings.Contains(strings.ToLower(err.Error()), "permission"):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 400 && !strings.Contains(apiErr.Description, "maximum")
	}
	return false
}

func (p *publisher) fail(err error) {
	p.fatalOnce.Do(func() {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			err = fmt.Errorf("no stream takes the subjects of --subject %s (--create-stream NAME makes one)", p.subject.wildcard())
		}
		p.fatalErr = err
		close(p.fatal)
	})
}

// Close waits until the stream acknowledged every record published;
// after a stop, for --drain-timeout at most.
func (p *publisher) Close() error {
	close(p.inflight)
	var wait <-chan time.Time
	if p.ctx.Err() != nil {
		wait = time.After(p.drain)
	}
	var err error
	select {
	case <-p.acked:
		// The acker is done: fatalErr is set, or will never be.
		if p.fatalErr != nil {
			err = fmt.Errorf("%w; %d records read were not acknowledged", p.fatalErr, p.n.Load()-p.ok.Load())
		}
	case <-wait:
		err = fmt.Errorf("the stream did not acknowledge %d records within --drain-timeout %s after the stop", p.n.Load()-p.ok.Load(), p.drain)
	}
	p.nc.Close()
	return err
}

// Stats: out counts the records the stream acknowledged.
func (p *publisher) Stats(lines *stage.Stats) string {
	s := fmt.Sprintf("in %d out %d dropped 0 bad %d", lines.In.Load(), p.ok.Load(), lines.Bad.Load())
	if n := p.n.Load() - p.ok.Load(); n > 0 {
		s += fmt.Sprintf(" unacknowledged %d", n)
	}
	return s + fmt.Sprintf(" duplicates %d retries %d", p.dups.Load(), p.retries.Load())
}

// Instrument adds the publisher's metrics.
func (p *publisher) Instrument(m *metrics.Set) {
	m.Count("nats_published_total", "Records published to JetStream.", &p.n)
	m.Count("nats_acknowledged_total", "Records the stream acknowledged.", &p.ok)
	m.Count("nats_duplicates_total", "Records the stream had already (same Nats-Msg-Id within its duplicate window).", &p.dups)
	m.Count("nats_publish_retries_total", "Publishes tried again (a server away, a new leader).", &p.retries)
}
