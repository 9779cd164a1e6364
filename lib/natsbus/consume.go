package natsbus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/stage"
)

func runConsume(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	app := stage.NewApp(name+" consume", "print the messages of a JetStream durable consumer, one a line, each acknowledged once the next process read it",
		stage.IO{In: in, Out: out, Err: errw})
	app.Flags = append(append([]cli.Flag{
		&cli.StringFlag{Name: "stream", Value: "FLOWS", EnvVars: []string{"SKY_NATS_STREAM"}, Usage: "the stream `NAME`"},
		&cli.StringFlag{Name: "durable", Value: "store", EnvVars: []string{"SKY_NATS_DURABLE"},
			Usage: "the durable consumer's `NAME`: workers with the same one share the messages, each to one of them"},
		&cli.StringFlag{Name: "filter", EnvVars: []string{"SKY_NATS_FILTER"}, Usage: "only the messages of `SUBJECT` (wildcards * and >)"},
		&cli.DurationFlag{Name: "ack-wait", Value: 30 * time.Second, EnvVars: []string{"SKY_NATS_ACK_WAIT"},
			Usage: "a message not acknowledged for `DURATION` goes again to a worker (while it waits unread in the pipe, sky-nats says it is in progress)"},
		&cli.IntFlag{Name: "max-ack-pending", Value: 20000, EnvVars: []string{"SKY_NATS_MAX_ACK_PENDING"},
			Usage: "at most `N` messages given to this consumer's workers and not yet acknowledged"},
		&cli.IntFlag{Name: "batch", Value: 1000, EnvVars: []string{"SKY_NATS_BATCH"}, Usage: "fetch up to `N` messages at a time"},
		&cli.DurationFlag{Name: "stats-interval", EnvVars: []string{"SKY_STATS_INTERVAL"}, Usage: "also print stats to stderr every `DURATION` (0: only at exit)"},
		&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second, EnvVars: []string{"SKY_DRAIN_TIMEOUT"},
			Usage: "after SIGINT, SIGTERM or SIGHUP, wait at most `DURATION` for the next process to read what was written"},
		stage.QuietFlag(),
	}, connFlags()...), metrics.Flags()...)
	app.Action = func(c *cli.Context) error {
		if err := stage.NoArgs(c); err != nil {
			return err
		}
		return consume(c, out, errw)
	}
	return stage.ExecuteContext(ctx, app, args)
}

// consumer writes messages out and acknowledges each once the next
// process read it: what a pipe still holds (FIONREAD) was not read.
type consumer struct {
	out      *stage.Counter
	w        *bufio.Writer
	unread   func() int  // bytes written and not read yet
	gone     func() bool // the reader closed its end
	pending  []written   // written, not acknowledged, in order
	ackWait  time.Duration
	progress time.Time // when the pending were last said in progress
	quiet    bool
	errw     io.Writer
	in, outN atomic.Int64
	acked    atomic.Int64
	redeliv  atomic.Int64
	started  time.Time
}

type written struct {
	msg jetstream.Msg
	end int64 // output offset after it
}

func consume(c *cli.Context, out, errw io.Writer) error {
	stage.IgnoreSIGPIPE()
	stage.GrowPipe(out)
	quiet := c.Bool("quiet")
	ctx := c.Context
	// The connection outlives the stop: the last acks go out after it.
	nc, err := connect(ctx, c, errw, quiet)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.ConsumerConfig{
		Durable: c.String("durable"), FilterSubject: c.String("filter"), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: c.Duration("ack-wait"), MaxAckPending: c.Int("max-ack-pending"), DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	cons, err := durable(ctx, js, c.String("stream"), cfg, c.Duration("max-backoff"), errw, quiet)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(c.Int("batch")))
	if err != nil {
		return err
	}
	k := &consumer{ackWait: cfg.AckWait, quiet: quiet, errw: errw, started: time.Now(), progress: time.Now()}
	k.out = &stage.Counter{W: out}
	k.w = bufio.NewWriterSize(k.out, 256<<10)
	k.unread, k.gone = unreadOf(out), readerGoneOf(out)
	m := metrics.New(name + " consume")
	m.Count("records_in_total", "Messages received.", &k.in)
	m.Count("records_out_total", "Messages written out.", &k.outN)
	m.Count("nats_acknowledged_total", "Messages acknowledged, once the next process read them.", &k.acked)
	m.Count("nats_redelivered_total", "Messages received again: a worker took them and did not acknowledge them.", &k.redeliv)
	finish, err := m.Start(c, errw, quiet)
	if err != nil {
		return err
	}
	defer finish()
	statsDone := make(chan struct{})
	defer close(statsDone)
	go stage.Every(c.Duration("stats-interval"), statsDone, func() { k.say("stats: %s", k.stats()) })

	msgs := make(chan jetstream.Msg, c.Int("batch"))
	go func() {
		defer close(msgs)
		for {
			msg, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil {
				k.say("%v", err)
				continue
			}
			msgs <- msg
		}
	}()
	err = k.run(ctx, msgs, it, c.Duration("drain-timeout"))
	nc.Flush() // the last acks reach the server before the exit
	if stage.ReaderGone(err) {
		k.say("%s", stage.ReaderGoneNotice)
		err = nil
	}
	if !quiet || err != nil {
		fmt.Fprintf(errw, "%s consume: stats: %s\n", name, k.stats())
	}
	return err
}

// durable creates the durable consumer, or takes it with its config
// brought up to date; a stream away (no leader yet) is waited for.
func durable(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, backoff time.Duration, errw io.Writer, quiet bool) (jetstream.Consumer, error) {
	for attempt := 0; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := js.CreateOrUpdateConsumer(tctx, stream, cfg)
		cancel()
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			return cons, nil
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, fmt.Errorf("no stream %s (sky-nats publish --create-stream %s makes it)", stream, stream)
		case errors.As(err, &apiErr) && apiErr.Code != 503, ctx.Err() != nil, errors.Is(err, jetstream.ErrJetStreamNotEnabled):
			return nil, fmt.Errorf("consumer %s of stream %s: %w", cfg.Durable, stream, err)
		}
		if !quiet && attempt == 0 {
			fmt.Fprintf(errw, "%s consume: consumer %s of stream %s: %v; trying again\n", name, cfg.Durable, stream, err)
		}
		time.Sleep(stage.Backoff(attempt, backoff))
	}
}

func (k *consumer) say(format string, a ...any) {
	if !k.quiet {
		fmt.Fprintf(k.errw, name+" consume: "+format+"\n", a...)
	}
}

func (k *consumer) stats() string {
	return fmt.Sprintf("in %d out %d acknowledged %d redelivered %d %s", k.in.Load(), k.outN.Load(), k.acked.Load(),
		k.redeliv.Load(), stage.Rate(k.in.Load(), time.Since(k.started)))
}

// run writes messages until a stop, then every one received, and waits
// for the reader to read them (--drain-timeout at most).
func (k *consumer) run(ctx context.Context, msgs <-chan jetstream.Msg, it jetstream.MessagesContext, drain time.Duration) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	stopped := ctx.Done()
	var deadline <-chan time.Time
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			if err := k.write(msg); err != nil {
				return k.abandon(err)
			}
			if len(msgs) == 0 {
				if err := k.w.Flush(); err != nil {
					return k.abandon(err)
				}
			}
		case <-tick.C:
			if err := k.w.Flush(); err != nil {
				return k.abandon(err)
			}
			if k.gone() {
				return k.abandon(syscall.EPIPE)
			}
			k.ackRead()
			if msgs == nil && len(k.pending) == 0 {
				return nil
			}
		case <-stopped:
			// No more fetching; what came is written, then read.
			it.Stop()
			stopped = nil
			deadline = time.After(drain)
		case <-deadline:
			k.ackRead()
			return fmt.Errorf("the next process did not read %d messages within --drain-timeout %s: they go to a worker again after --ack-wait", len(k.pending), drain)
		}
	}
}

func (k *consumer) write(msg jetstream.Msg) error {
	k.in.Add(1)
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
		k.redeliv.Add(1)
	}
	data := msg.Data()
	k.w.Write(data)
	if len(data) == 0 || data[len(data)-1] != '\n' {
		k.w.WriteByte('\n')
	}
	k.pending = append(k.pending, written{msg: msg, end: k.out.N.Load() + int64(k.w.Buffered())})
	k.outN.Add(1)
	return nil
}

// ackRead acknowledges the messages the reader read; those waiting in
// the pipe longer than half the ack wait are said in progress.
func (k *consumer) ackRead() {
	read := k.out.N.Load() - int64(k.unread())
	n := 0
	for n < len(k.pending) && k.pending[n].end <= read {
		k.pending[n].msg.Ack()
		n++
	}
	k.acked.Add(int64(n))
	k.pending = append(k.pending[:0], k.pending[n:]...)
	if len(k.pending) > 0 && time.Since(k.progress) > k.ackWait/2 {
		for _, p := range k.pending {
			p.msg.InProgress()
		}
		k.progress = time.Now()
	}
}

// abandon gives back the messages the reader will not read (it went
// away, or the write failed): they go to a worker again at once.
func (k *consumer) abandon(err error) error {
	k.ackRead()
	for _, p := range k.pending {
		p.msg.Nak()
	}
	k.pending = nil
	return fmt.Errorf("write: %w", err)
}
