package s3put

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/batch"
	"github.com/skyflows/skyflows/lib/stage"
)

// Run is the sky-s3put command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	errw = &lockedWriter{w: errw} // the workers report too
	return stage.Lines{
		Name:  "sky-s3put",
		Usage: "upload the objects named by sky-batch's manifest lines (and, with --spool, left in the spool) to S3",
		Flags: flags(),
		Open: func(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			return open(c, in, w, errw)
		},
	}.Run(args, in, out, errw)
}

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bucket", EnvVars: []string{"SKY_S3_BUCKET"}, Usage: "the `BUCKET`", Required: true},
		&cli.StringFlag{Name: "endpoint", EnvVars: []string{"SKY_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, Usage: "the store's `URL` (default: AWS)"},
		&cli.StringFlag{Name: "region", EnvVars: []string{"SKY_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}, Usage: "the `REGION` (default: from the AWS config, else us-east-1)"},
		&cli.BoolFlag{Name: "path-style", EnvVars: []string{"SKY_S3_PATH_STYLE"}, Usage: "address buckets in the path (most S3-compatible stores)"},
		&cli.StringFlag{Name: "profile", EnvVars: []string{"AWS_PROFILE"}, Usage: "the shared config `PROFILE`"},
		&cli.StringFlag{Name: "access-key", EnvVars: []string{"SKY_S3_ACCESS_KEY"}, Usage: "the access `KEY` (default: the AWS credential chain)"},
		&cli.StringFlag{Name: "secret-key", EnvVars: []string{"SKY_S3_SECRET_KEY"}, Usage: "the secret `KEY` (better from the environment; never logged)"},
		&cli.BoolFlag{Name: "insecure-skip-verify", EnvVars: []string{"SKY_S3_INSECURE"}, Usage: "do not verify the store's TLS certificate (insecure)"},
		&cli.StringFlag{Name: "spool", EnvVars: []string{"SKY_SPOOL"}, TakesFile: true, Usage: "also upload the finished objects in sky-batch's spool `DIR` (at start; cron mode)"},
		&cli.StringFlag{Name: "keep", EnvVars: []string{"SKY_S3_KEEP"}, TakesFile: true, Usage: "move stored objects to `DIR`/KEY instead of deleting them"},
		&cli.StringFlag{Name: "key", Usage: "upload stdin as the one object `KEY`, as aws s3 cp - does"},
		&cli.StringFlag{Name: "content-type", Usage: "with --key: the `TYPE`"},
		&cli.IntFlag{Name: "concurrency", Value: 4, EnvVars: []string{"SKY_S3_CONCURRENCY"}, Usage: "`N` uploads at once"},
		&cli.Int64Flag{Name: "part-size", Value: 16 << 20, EnvVars: []string{"SKY_S3_PART_SIZE"}, Usage: "multipart above `BYTES`, in parts of that size"},
		&cli.IntFlag{Name: "max-retries", EnvVars: []string{"SKY_S3_MAX_RETRIES"}, Usage: "give up on an object after `N` failed attempts (0: wait out any outage)"},
		&cli.DurationFlag{Name: "max-backoff", Value: 30 * time.Second, EnvVars: []string{"SKY_S3_MAX_BACKOFF"}, Usage: "longest wait between attempts"},
		&cli.StringFlag{Name: "sse", EnvVars: []string{"SKY_S3_SSE"}, Usage: "server-side encryption: `AES256` or aws:kms"},
		&cli.StringFlag{Name: "sse-kms-key-id", EnvVars: []string{"SKY_S3_SSE_KMS_KEY_ID"}, Usage: "the KMS `KEY` for --sse aws:kms"},
		&cli.StringFlag{Name: "storage-class", EnvVars: []string{"SKY_S3_STORAGE_CLASS"}, Usage: "the `CLASS` (STANDARD, STANDARD_IA, GLACIER_IR...)"},
		&cli.BoolFlag{Name: "create-bucket", Usage: "create the bucket if it does not exist"},
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Stored is the line printed for each object the store confirmed.
type Stored struct {
	Key        string `json:"key"`
	ETag       string `json:"etag"`
	Bytes      int64  `json:"bytes"`
	DurationMs int64  `json:"duration_ms"`
}

// uploader is the processor: manifests in, uploads on workers, lines out.
type uploader struct {
	ctx     context.Context // cancelled by a signal: no more waiting out an outage
	client  *s3.Client
	store   storeOptions
	keep    string
	retries int
	backoff time.Duration
	w       *bufio.Writer
	errw    io.Writer
	work    chan batch.Manifest
	wg      sync.WaitGroup

	mu     sync.Mutex // guards what follows, shared with the workers
	done   []Stored
	seen   map[string]bool
	fatal  error
	stored int
	bytes  int64
	left   int
}

func open(c *cli.Context, in io.Reader, w *bufio.Writer, errw io.Writer) (stage.Processor, error) {
	co := clientOptions{
		endpoint: c.String("endpoint"), region: c.String("region"), profile: c.String("profile"),
		accessKey: c.String("access-key"), secretKey: c.String("secret-key"), pathStyle: c.Bool("path-style"),
		insecure: c.Bool("insecure-skip-verify"), concurrency: c.Int("concurrency"),
	}
	so := storeOptions{bucket: c.String("bucket"), sse: c.String("sse"), kmsKeyID: c.String("sse-kms-key-id"),
		storageClass: c.String("storage-class"), partSize: c.Int64("part-size")}
	if so.sse != "" && so.sse != "AES256" && so.sse != "aws:kms" {
		return nil, fmt.Errorf("--sse %q: want AES256 or aws:kms", so.sse)
	}
	if so.partSize < 5<<20 || c.Int("concurrency") < 1 {
		return nil, fmt.Errorf("--part-size must be at least 5 MiB (S3's minimum part) and --concurrency at least 1")
	}
	client, err := newClient(c.Context, co)
	if err != nil {
		return nil, stage.Runtime(err)
	}
	u := &uploader{
		ctx: c.Context, client: client, store: so, keep: c.String("keep"), retries: c.Int("max-retries"),
		backoff: c.Duration("max-backoff"), w: w, errw: errw, seen: map[string]bool{},
	}
	if c.Bool("create-bucket") {
		if err := u.createBucket(); err != nil {
			return nil, stage.Runtime(err)
		}
	}
	if key := c.String("key"); key != "" {
		if err := u.single(key, c.String("content-type"), in); err != nil {
			return nil, err
		}
		return consumed{}, nil
	}
	u.work = make(chan batch.Manifest)
	for range c.Int("concurrency") {
		u.wg.Add(1)
		go u.worker()
	}
	if dir := c.String("spool"); dir != "" {
		if err := u.leftovers(dir); err != nil {
			return nil, stage.Runtime(err)
		}
	}
	return u, nil
}

func (u *uploader) createBucket() error {
	_, err := u.client.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(u.store.bucket)})
	if err == nil {
		return nil
	}
	if _, err := u.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(u.store.bucket)}); err != nil {
		msg, _ := explain(err)
		return fmt.Errorf("create bucket %s: %s", u.store.bucket, msg)
	}
	return nil
}

// leftovers queues the finished objects found in a spool.
func (u *uploader) leftovers(dir string) error {
	names, err := batch.ManifestFiles(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := u.Record(data); err != nil {
			fmt.Fprintf(u.errw, "sky-s3put: %s: %v\n", name, err)
		}
	}
	return nil
}

// Record queues the object a manifest line names.
func (u *uploader) Record(line []byte) (bool, error) {
	if err := u.failed(); err != nil {
		return false, stage.Runtime(err)
	}
	var m batch.Manifest
	if err := json.Unmarshal(line, &m); err != nil {
		return false, fmt.Errorf("manifest: %w", err)
	}
	if m.Path == "" || m.Key == "" {
		return false, errors.New("manifest: no path or key")
	}
	u.mu.Lock()
	dup := u.seen[m.Path]
	u.seen[m.Path] = true
	u.mu.Unlock()
	if dup {
		return false, nil
	}
	// Even after a signal: the stage reads to the end of its input and
	// uploads what it names; only waiting out an outage stops.
	u.work <- m
	u.writeDone()
	return true, nil
}

func (u *uploader) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.fatal
}

// writeDone prints the lines of the objects stored so far.
func (u *uploader) writeDone() {
	u.mu.Lock()
	done := u.done
	u.done = nil
	u.mu.Unlock()
	for _, s := range done {
		data, _ := json.Marshal(s)
		u.w.Write(data)
		u.w.WriteByte('\n')
	}
}

func (u *uploader) worker() {
	defer u.wg.Done()
	for m := range u.work {
		u.upload(m)
	}
}

// upload stores one object, trying again with backoff while the failure
// may pass, and then removes it from the spool.
func (u *uploader) upload(m batch.Manifest) {
	if _, err := os.Stat(m.Path); errors.Is(err, os.ErrNotExist) {
		// An earlier run stored and removed the object, and died before
		// its manifest went: the manifest alone is left to remove.
		fmt.Fprintf(u.errw, "sky-s3put: %s: stored by an earlier run; its manifest removed\n", m.Key)
		if err := u.removeManifest(m); err != nil {
			u.fail(err)
		}
		return
	}
	o := object{key: m.Key, md5: m.MD5, contentType: m.ContentType, contentEncoding: m.ContentEncoding, metadata: m.Metadata}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		etag, n, err := u.putFile(m.Path, o)
		if err == nil {
			if err := u.release(m); err != nil {
				u.fail(err)
				return
			}
			u.mu.Lock()
			u.done = append(u.done, Stored{Key: m.Key, ETag: etag, Bytes: n, DurationMs: time.Since(start).Milliseconds()})
			u.stored++
			u.bytes += n
			delete(u.seen, m.Path) // gone from the spool: memory stays flat
			u.mu.Unlock()
			return
		}
		msg, retry := explain(err)
		if errors.Is(err, errCorrupt) || errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(u.errw, "sky-s3put: %s: %v\n", m.Key, err)
			u.keepInSpool()
			return
		}
		if !retry {
			u.fail(fmt.Errorf("%s: %s; objects stay in the spool", m.Key, msg))
			return
		}
		if u.retries > 0 && attempt >= u.retries {
			fmt.Fprintf(u.errw, "sky-s3put: %s: %s; gave up after %d attempts, left in the spool\n", m.Key, msg, attempt)
			u.keepInSpool()
			return
		}
		wait := stage.Backoff(attempt-1, u.backoff)
		fmt.Fprintf(u.errw, "sky-s3put: %s: %s; attempt %d in %s\n", m.Key, msg, attempt+1, wait.Round(time.Millisecond))
		select {
		case <-u.ctx.Done():
			u.keepInSpool()
			return
		case <-time.After(wait):
		}
	}
}

func (u *uploader) putFile(path string, o object) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	// A request in flight finishes even after a signal.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 10*time.Minute)
	defer cancel()
	return put(ctx, u.client, u.store, o, f, size)
}

func (u *uploader) keepInSpool() {
	u.mu.Lock()
	u.left++
	u.mu.Unlock()
}

func (u *uploader) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.left++
	if u.fatal == nil {
		u.fatal = err
	}
}

// release removes a stored object from the spool, or moves it to --keep,
// and then its manifest.
func (u *uploader) release(m batch.Manifest) error {
	if u.keep != "" {
		if !filepath.IsLocal(m.Key) {
			return fmt.Errorf("--keep: key %q is not a relative path", m.Key)
		}
		dst := filepath.Join(u.keep, filepath.FromSlash(m.Key))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(m.Path, dst); err != nil {
			return err
		}
	} else if err := os.Remove(m.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return u.removeManifest(m)
}

// removeManifest removes the manifest file sky-batch wrote for m.
func (u *uploader) removeManifest(m batch.Manifest) error {
	if err := os.Remove(batch.ManifestOf(m.Path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// TickEvery prints stored objects' lines promptly.
func (u *uploader) TickEvery() time.Duration { return 200 * time.Millisecond }

// Tick prints the lines of the objects stored since the last one.
func (u *uploader) Tick() error {
	u.writeDone()
	return nil
}

// Close waits for the uploads under way and says what was stored.
func (u *uploader) Close() error {
	close(u.work)
	u.wg.Wait()
	u.writeDone()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stored > 0 || u.left > 0 {
		fmt.Fprintf(u.errw, "sky-s3put: %d objects stored (%d bytes) in %s, %d left in the spool\n", u.stored, u.bytes, u.store.bucket, u.left)
	}
	return u.fatal
}

// single uploads stdin as one object; the stage then has no input left.
func (u *uploader) single(key, contentType string, in io.Reader) error {
	start := time.Now()
	etag, n, err := put(u.ctx, u.client, u.store, object{key: key, contentType: contentType}, in, -1)
	if err != nil {
		msg, _ := explain(err)
		return stage.Runtime(fmt.Errorf("%s: %s", key, msg))
	}
	data, _ := json.Marshal(Stored{Key: key, ETag: etag, Bytes: n, DurationMs: time.Since(start).Milliseconds()})
	u.w.Write(data)
	return u.w.WriteByte('\n')
}

// consumed is the processor after --key: the input was the object.
type consumed struct{}

func (consumed) Record([]byte) (bool, error) { return false, errors.New("input after the object") }

func (consumed) Close() error { return nil }
