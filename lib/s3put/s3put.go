package s3put

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/skyflows/skyflows/lib/metrics"
	"github.com/skyflows/skyflows/lib/spool"
	"github.com/skyflows/skyflows/lib/stage"
)

// Run is the sky-s3put command.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	return RunContext(context.Background(), args, in, out, errw)
}

// RunContext is Run under a parent context, which tests cancel in place
// of a signal.
func RunContext(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	errw = &stage.LockedWriter{W: errw} // the workers report too
	return stage.Lines{
		Name:  "sky-s3put",
		Usage: "upload the finished objects of sky-batch's spool, and those its manifest lines name, to S3",
		Flags: flags(),
		Does:  stage.Ticks | stage.Instruments | stage.Reports,
		// --check and --key: one thing done, then exit.
		OneShot: func(c *cli.Context, in io.Reader, out io.Writer) (bool, error) {
			if !c.Bool("check") && c.String("key") == "" {
				return false, nil
			}
			u, err := newUploader(c, bufio.NewWriter(out), errw)
			if err != nil {
				return true, err
			}
			if c.Bool("check") {
				return true, u.check()
			}
			return true, u.single(c.String("key"), c.String("content-type"), in)
		},
		Open: func(c *cli.Context, w *bufio.Writer) (stage.Processor, error) {
			u, err := newUploader(c, w, errw)
			if err != nil {
				return nil, err
			}
			return u, u.serve(c)
		},
	}.RunContext(ctx, args, in, out, errw)
}

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bucket", EnvVars: []string{"SKY_S3_BUCKET"}, Usage: "the `BUCKET` (required)"},
		&cli.StringFlag{Name: "endpoint", EnvVars: []string{"SKY_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, Usage: "the store's `URL` (default: AWS)"},
		&cli.StringFlag{Name: "region", EnvVars: []string{"SKY_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}, Usage: "the `REGION` (default: from the AWS config, else us-east-1)"},
		&cli.BoolFlag{Name: "path-style", EnvVars: []string{"SKY_S3_PATH_STYLE"}, Usage: "address buckets in the path (most S3-compatible stores)"},
		&cli.StringFlag{Name: "profile", EnvVars: []string{"SKY_S3_PROFILE", "AWS_PROFILE"}, Usage: "the shared config `PROFILE`"},
		&cli.StringFlag{Name: "access-key", EnvVars: []string{"SKY_S3_ACCESS_KEY"}, Usage: "the access `KEY` (default: the AWS credential chain)"},
		&cli.StringFlag{Name: "secret-key", EnvVars: []string{"SKY_S3_SECRET_KEY"}, Usage: "the secret `KEY` (better from the environment; never logged)"},
		&cli.StringFlag{Name: "ibm-api-key", EnvVars: []string{"SKY_IBM_API_KEY"},
			Usage: "IBM Cloud Object Storage: an IBM Cloud API `KEY`, exchanged for IAM tokens that sign the requests in place of HMAC keys (better from the environment or --ibm-api-key-file; never printed)"},
		&cli.StringFlag{Name: "ibm-api-key-file", EnvVars: []string{"SKY_IBM_API_KEY_FILE"}, TakesFile: true, Usage: "read the IBM Cloud API key from `FILE`"},
		&cli.StringFlag{Name: "ibm-iam-endpoint", Value: DefaultIAMEndpoint, EnvVars: []string{"SKY_IBM_IAM_ENDPOINT"}, Usage: "IBM IAM's token `URL`"},
		&cli.StringFlag{Name: "ibm-service-instance-id", EnvVars: []string{"SKY_IBM_SERVICE_INSTANCE_ID"},
			Usage: "the COS service instance `ID` (its CRN), which --create-bucket needs"},
		&cli.BoolFlag{Name: "insecure-skip-verify", EnvVars: []string{"SKY_S3_INSECURE"}, Usage: "do not verify the store's TLS certificate (insecure)"},
		&cli.StringFlag{Name: "spool", EnvVars: []string{"SKY_SPOOL"}, TakesFile: true, DefaultText: spool.Default(),
			Usage: "sky-batch's spool `DIR`: its finished objects are uploaded at start, and only its objects are ever read or removed; without it, each manifest line's own spool, checked"},
		&cli.BoolFlag{Name: "check", Usage: "check the credentials, the bucket and the right to write (an object put and deleted), then exit 0 or 1"},
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

// Stored is the line printed for each object the store confirmed.
type Stored struct {
	Key        string `json:"key"`
	ETag       string `json:"etag"`
	Bytes      int64  `json:"bytes"`
	DurationMs int64  `json:"duration_ms"`
	// Already says the store had the object already, same content.
	Already bool `json:"already,omitempty"`
}

// counts are the objects of a run: every one asked for (from stdin or the
// spool) is stored, skipped (already stored, or another sky-s3put's) or
// failed (left where it is).
type counts struct {
	asked, stored, failed, retries int
	already, others                int // skipped: already stored, another sky-s3put's
	bytes                          int64
}

// skipped counts the objects taken care of otherwise.
func (n counts) skipped() int { return n.already + n.others }

// job is an object to store: its id in a spool, and the manifest line
// that named it (nil for an object found in the spool).
type job struct {
	dir  *spool.Dir
	id   string
	line *spool.Manifest
}

// uploader is the processor: manifests in, uploads on workers, lines out.
type uploader struct {
	ctx     context.Context // cancelled by a signal: no more waiting out an outage
	client  *s3.Client
	store   storeOptions
	spool   string // --spool or SKY_SPOOL, absolute, links resolved; "" when neither
	keep    string
	retries int
	backoff time.Duration
	quiet   bool
	w       *bufio.Writer
	errw    io.Writer
	work    chan job
	wg      sync.WaitGroup
	took    prometheus.Histogram // upload durations

	mu     sync.Mutex // guards what follows, shared with the workers
	done   []Stored
	seen   map[string]bool       // by spool and id
	spools map[string]*spool.Dir // by absolute path
	fatal  error
	n      counts
}

// newUploader checks the flags and makes the client (and the bucket,
// with --create-bucket).
func newUploader(c *cli.Context, w *bufio.Writer, errw io.Writer) (*uploader, error) {
	co := clientOptions{
		endpoint: c.String("endpoint"), region: c.String("region"), profile: c.String("profile"),
		accessKey: c.String("access-key"), secretKey: c.String("secret-key"), pathStyle: c.Bool("path-style"),
		insecure: c.Bool("insecure-skip-verify"), concurrency: c.Int("concurrency"),
	}
	key := c.String("ibm-api-key")
	if f := c.String("ibm-api-key-file"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--ibm-api-key-file: %w", err)
		}
		key = strings.TrimSpace(string(data))
	}
	if key != "" {
		co.iam = &iamTokens{key: key, endpoint: c.String("ibm-iam-endpoint")}
		co.instance = c.String("ibm-service-instance-id")
	}
	so := storeOptions{bucket: c.String("bucket"), sse: c.String("sse"), kmsKeyID: c.String("sse-kms-key-id"),
		storageClass: c.String("storage-class"), partSize: c.Int64("part-size")}
	if so.bucket == "" {
		return nil, stage.Usagef("--bucket (or SKY_S3_BUCKET) is required")
	}
	if so.sse != "" && so.sse != "AES256" && so.sse != "aws:kms" {
		return nil, stage.Usagef("--sse %q: want AES256 or aws:kms", so.sse)
	}
	if so.partSize < 5<<20 || c.Int("concurrency") < 1 {
		return nil, stage.Usagef("--part-size must be at least 5 MiB (S3's minimum part) and --concurrency at least 1")
	}
	client, err := newClient(c.Context, co)
	if err != nil {
		return nil, err
	}
	u := &uploader{
		ctx: c.Context, client: client, store: so, keep: c.String("keep"), retries: c.Int("max-retries"),
		backoff: c.Duration("max-backoff"), quiet: c.Bool("quiet"), w: w, errw: errw, seen: map[string]bool{}, spools: map[string]*spool.Dir{},
		took: metrics.Seconds("sky-s3put", "s3put_upload_seconds", "Time to store an object, retries included."),
	}
	if c.Bool("create-bucket") {
		if err := u.createBucket(); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// serve starts the workers and queues what the spool holds.
func (u *uploader) serve(c *cli.Context) error {
	leftovers := spool.Default()
	if c.IsSet("spool") {
		var err error
		if u.spool, err = spool.Resolve(c.String("spool")); err != nil {
			return err
		}
		leftovers = u.spool
	}
	u.work = make(chan job)
	for range c.Int("concurrency") {
		u.wg.Add(1)
		go u.worker()
	}
	if err := u.leftovers(leftovers); err != nil {
		u.Close()
		return err
	}
	return nil
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

// check puts a probe object and deletes it: credentials, bucket and the
// right to write, all at once.
func (u *uploader) check() error {
	random := make([]byte, 8)
	rand.Read(random)
	key := ".skyflows-check-" + hex.EncodeToString(random)
	ctx, cancel := context.WithTimeout(u.ctx, time.Minute)
	defer cancel()
	_, _, err := put(ctx, u.client, u.store, object{key: key, contentType: "text/plain"}, strings.NewReader("skyflows check\n"), -1)
	if err == nil {
		_, err = u.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(u.store.bucket), Key: aws.String(key)})
	}
	if err != nil {
		msg, _ := explain(err)
		return fmt.Errorf("check: bucket %s: %s", u.store.bucket, msg)
	}
	if !u.quiet {
		fmt.Fprintf(u.errw, "sky-s3put: check: bucket %s: credentials, bucket and writing are fine\n", u.store.bucket)
	}
	return nil
}

// leftovers queues the finished objects the spool at path holds; a spool
// that does not exist holds none, which is said (a mistyped --spool in a
// cron line would otherwise upload nothing in silence).
func (u *uploader) leftovers(path string) error {
	d, err := u.openSpool(path)
	if errors.Is(err, os.ErrNotExist) {
		if !u.quiet {
			fmt.Fprintf(u.errw, "sky-s3put: no spool at %s (yet): nothing left by an earlier run\n", path)
		}
		return nil
	}
	if err != nil {
		return err
	}
	names, err := d.Names(spool.Manifests, ".json")
	if err != nil {
		return err
	}
	for _, name := range names {
		u.queue(job{dir: d, id: strings.TrimSuffix(name, ".json")})
	}
	return nil
}

// openSpool opens the spool at path, once a run, and checks that its
// directories are its own.
func (u *uploader) openSpool(path string) (*spool.Dir, error) {
	real, err := spool.Resolve(path)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if d := u.spools[real]; d != nil {
		return d, nil
	}
	d, err := spool.OpenDir(real)
	if err != nil {
		return nil, err
	}
	if err := d.Check(spool.Ready, spool.Manifests); err != nil {
		d.Close()
		return nil, err
	}
	u.spools[real] = d
	return d, nil
}

// Record queues the object a manifest line names. Only the name of its
// object counts: ready/ID in its spool (or the same as an absolute
// path); what the object is comes from the spool's own manifest. Its
// spool is --spool, which the line's must be if it names one, or else
// the line's.
func (u *uploader) Record(line []byte) (bool, error) {
	if err := u.failed(); err != nil {
		return false, err
	}
	var m spool.Manifest
	if err := json.Unmarshal(line, &m); err != nil {
		return false, stage.BadInput(fmt.Errorf("manifest: %w", err))
	}
	if m.Path == "" || m.Key == "" {
		return false, stage.BadInput(errors.New("manifest: no path or key"))
	}
	d, id, err := u.locate(&m)
	if errors.Is(err, spool.ErrNotOwn) {
		return false, err
	}
	if err != nil {
		u.count(func(n *counts) { n.asked++; n.failed++ })
		fmt.Fprintf(u.errw, "sky-s3put: %s: %v; left alone\n", m.Key, err)
		return false, nil
	}
	// Even after a signal: the stage reads to the end of its input and
	// uploads what it names; only waiting out an outage stops.
	return u.queue(job{dir: d, id: id, line: &m}), nil
}

// locate finds the spool and the id of the object a manifest line names.
func (u *uploader) locate(m *spool.Manifest) (*spool.Dir, string, error) {
	path := u.spool
	switch {
	case m.Spool != "" && path == "":
		if !filepath.IsAbs(m.Spool) {
			return nil, "", fmt.Errorf("the manifest's spool %q is not an absolute path", m.Spool)
		}
		path = m.Spool
	case m.Spool != "":
		if real, err := spool.Resolve(m.Spool); err != nil || real != path {
			return nil, "", fmt.Errorf("the manifest is of the spool %s, not of --spool %s", m.Spool, path)
		}
	case path == "":
		path = spool.Default()
	}
	d, err := u.openSpool(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("no spool at %s", path)
	}
	if err != nil {
		return nil, "", err
	}
	id, err := objectID(d.Path, m.Path)
	return d, id, err
}

// queue hands an object to the workers, once.
func (u *uploader) queue(j job) bool {
	u.mu.Lock()
	dup := u.seen[j.key()]
	u.seen[j.key()] = true
	if !dup {
		u.n.asked++
	}
	u.mu.Unlock()
	if dup {
		return false
	}
	u.work <- j
	u.writeDone()
	return true
}

// key tells the job's object from any other of the run.
func (j job) key() string { return j.dir.Path + "\x00" + j.id }

// objectID checks that a manifest's path names an object of the spool
// dir: a plain name in its ready/ directory.
func objectID(dir, path string) (string, error) {
	parent, name := filepath.Split(filepath.Clean(path))
	if filepath.IsAbs(path) {
		real, err := filepath.EvalSymlinks(parent)
		if err != nil || real != filepath.Join(dir, spool.Ready) {
			return "", fmt.Errorf("%s is not in the spool %s (give sky-s3put the --spool of sky-batch)", path, dir)
		}
	} else if path != spool.ObjectPath(name) {
		return "", fmt.Errorf("%s is not ready/NAME in the spool", path)
	}
	if !validID(name) {
		return "", fmt.Errorf("%q is not the name of a spooled object", name)
	}
	return name, nil
}

// validID: letters, digits, '-', '_' and '.', not first.
func validID(id string) bool {
	if id == "" || id[0] == '.' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (u *uploader) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.fatal
}

func (u *uploader) count(f func(*counts)) {
	u.mu.Lock()
	f(&u.n)
	u.mu.Unlock()
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
	for j := range u.work {
		u.upload(j)
	}
}

// upload stores one object of a spool, trying again with backoff while
// the failure may pass, and then removes it. Its manifest file is its
// claim: locked while it is uploaded, so that two sky-s3put on one spool
// never upload an object twice.
func (u *uploader) upload(j job) {
	claim, m, already, err := u.claim(j)
	switch {
	case errors.Is(err, spool.ErrNotOwn):
		u.fail(err)
		return
	case err != nil:
		fmt.Fprintf(u.errw, "sky-s3put: %s: %v; left alone\n", j.id, err)
		u.count(func(n *counts) { n.failed++ })
		return
	case claim == nil && already:
		u.count(func(n *counts) { n.already++ })
		return
	case claim == nil:
		u.count(func(n *counts) { n.others++ })
		return
	}
	defer claim.Close()
	f, err := j.dir.OpenFile(spool.Ready, j.id, os.O_RDONLY, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// An earlier run stored and removed the object, and died before
		// its manifest went: the manifest alone is left to remove.
		fmt.Fprintf(u.errw, "sky-s3put: %s: stored by an earlier run; its manifest removed\n", m.Key)
		u.count(func(n *counts) { n.already++ })
		if err := j.dir.Remove(spool.Manifests, j.id+".json"); err != nil {
			u.fail(err)
		}
		return
	case errors.Is(err, spool.ErrNotOwn):
		u.fail(err)
		return
	case err != nil:
		fmt.Fprintf(u.errw, "sky-s3put: %s: %v; left alone\n", m.Key, err)
		u.count(func(n *counts) { n.failed++ })
		return
	}
	defer f.Close()
	o := object{key: m.Key, md5: m.MD5, sha256: m.SHA256, contentType: m.ContentType, contentEncoding: m.ContentEncoding, metadata: m.Metadata}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		etag, n, already, err := u.putFile(f, o)
		if err == nil {
			if err := u.release(j, m); err != nil {
				u.fail(err)
				return
			}
			u.took.Observe(time.Since(start).Seconds())
			u.mu.Lock()
			u.done = append(u.done, Stored{Key: m.Key, ETag: etag, Bytes: n, DurationMs: time.Since(start).Milliseconds(), Already: already})
			u.n.stored++
			u.n.bytes += n
			delete(u.seen, j.key()) // gone from the spool: memory stays flat
			u.mu.Unlock()
			return
		}
		msg, retry := explain(err)
		if errors.Is(err, errCorrupt) || errors.Is(err, errConflict) {
			fmt.Fprintf(u.errw, "sky-s3put: %s: %v\n", m.Key, err)
			u.count(func(n *counts) { n.failed++ })
			return
		}
		if !retry {
			u.fail(fmt.Errorf("%s: %s; objects stay in the spool", m.Key, msg))
			return
		}
		if u.retries > 0 && attempt >= u.retries {
			fmt.Fprintf(u.errw, "sky-s3put: %s: %s; gave up after %d attempts, left in the spool\n", m.Key, msg, attempt)
			u.count(func(n *counts) { n.failed++ })
			return
		}
		u.count(func(n *counts) { n.retries++ })
		wait := stage.Backoff(attempt-1, u.backoff)
		fmt.Fprintf(u.errw, "sky-s3put: %s: %s; attempt %d in %s\n", m.Key, msg, attempt+1, wait.Round(time.Millisecond))
		select {
		case <-u.ctx.Done():
			u.count(func(n *counts) { n.failed++ })
			return
		case <-time.After(wait):
		}
	}
}

// claim locks the manifest of the job's object in its spool and reads
// it. It returns no file, and no error, when another sky-s3put holds it
// or the object is stored already (already: the bucket has it); an
// object a manifest line named that is neither in the spool nor in the
// bucket is an error.
func (u *uploader) claim(j job) (f *os.File, m *spool.Manifest, already bool, err error) {
	f, err = j.dir.OpenFile(spool.Manifests, j.id+".json", os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		already, err = u.gone(j)
		return nil, nil, already, err
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("manifest: %w", err)
	}
	if ok, err := spool.TryLock(f); !ok {
		f.Close()
		if err != nil {
			return nil, nil, false, fmt.Errorf("manifest: %w", err)
		}
		return nil, nil, false, nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Nlink == 0 {
		f.Close()
		return nil, nil, false, nil // removed by the one that held it: stored
	}
	m = &spool.Manifest{}
	data, err := io.ReadAll(f)
	if err == nil {
		err = json.Unmarshal(data, m)
	}
	switch {
	case err != nil:
	case m.Key == "" || m.Path != spool.ObjectPath(j.id) && filepath.Base(m.Path) != j.id:
		err = errors.New("it names another object")
	case j.line != nil && j.line.Key != m.Key:
		err = fmt.Errorf("it names the key %s, the manifest line %s", m.Key, j.line.Key)
	}
	if err != nil {
		f.Close()
		return nil, nil, false, fmt.Errorf("manifest %s: %w", f.Name(), err)
	}
	return f, m, false, nil
}

// gone tells what became of an object whose manifest is not in its
// spool: one that a manifest line named must be in the bucket, the same
// (already); one found in the spool was stored by another sky-s3put
// since.
func (u *uploader) gone(j job) (already bool, err error) {
	if there, err := j.dir.Exists(spool.Ready, j.id); err != nil || there {
		return false, errors.Join(err, errors.New("no manifest in the spool for this object"))
	}
	if j.line == nil {
		return false, nil
	}
	o := object{key: j.line.Key, md5: j.line.MD5, sha256: j.line.SHA256}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), time.Minute)
	defer cancel()
	if _, err := sameObject(ctx, u.client, u.store, o); err != nil {
		msg, _ := explain(err)
		return false, fmt.Errorf("neither in the spool %s nor in the bucket (%s)", j.dir.Path, msg)
	}
	return true, nil
}

func (u *uploader) putFile(f *os.File, o object) (etag string, n int64, already bool, err error) {
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, false, err
	}
	// A request in flight finishes even after a signal.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 10*time.Minute)
	defer cancel()
	etag, n, err = put(ctx, u.client, u.store, o, f, size)
	if errors.Is(err, errExists) {
		etag, err = sameObject(ctx, u.client, u.store, o)
		return etag, size, err == nil, err
	}
	return etag, n, false, err
}

func (u *uploader) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n.failed++
	if u.fatal == nil {
		u.fatal = err
	}
}

// release removes a stored object from its spool, or moves it to
// --keep, and then its manifest, the claim still held.
func (u *uploader) release(j job, m *spool.Manifest) error {
	if u.keep != "" {
		if !filepath.IsLocal(m.Key) {
			return fmt.Errorf("--keep: key %q is not a relative path", m.Key)
		}
		dst := filepath.Join(u.keep, filepath.FromSlash(m.Key))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := j.dir.MoveOut(spool.Ready, j.id, dst); err != nil {
			return err
		}
	} else if err := j.dir.Remove(spool.Ready, j.id); err != nil {
		return err
	}
	return j.dir.Remove(spool.Manifests, j.id+".json")
}

// TickEvery prints stored objects' lines promptly.
func (u *uploader) TickEvery() time.Duration { return 200 * time.Millisecond }

// Tick prints the lines of the objects stored since the last one.
func (u *uploader) Tick() error {
	u.writeDone()
	return nil
}

// Close waits for the uploads under way and says what was stored; it
// fails when any object it was asked for is left in the spool.
func (u *uploader) Close() error {
	close(u.work)
	u.wg.Wait()
	u.writeDone()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, d := range u.spools {
		d.Close()
	}
	n := u.n
	if !u.quiet && n.asked > 0 {
		fmt.Fprintf(u.errw, "sky-s3put: %d objects stored (%d bytes) in %s, %d skipped (%d already stored, %d another sky-s3put's), %d not stored\n",
			n.stored, n.bytes, u.store.bucket, n.skipped(), n.already, n.others, n.failed)
	}
	if u.fatal == nil && n.failed > 0 {
		u.fatal = fmt.Errorf("%d objects not stored", n.failed)
	}
	return u.fatal
}

// Instrument adds sky-s3put's metrics.
func (u *uploader) Instrument(m *metrics.Set) {
	for _, c := range []struct {
		name, help string
		v          func(n counts) float64
	}{
		{"s3put_objects_stored_total", "Objects the store confirmed.", func(n counts) float64 { return float64(n.stored) }},
		{"s3put_objects_failed_total", "Objects not stored, left in the spool.", func(n counts) float64 { return float64(n.failed) }},
		{"s3put_objects_skipped_total", "Objects already stored, or another sky-s3put's.", func(n counts) float64 { return float64(n.skipped()) }},
		{"s3put_objects_already_total", "Objects skipped because the bucket had them already, the same.", func(n counts) float64 { return float64(n.already) }},
		{"s3put_retries_total", "Attempts made again after a failure that may pass.", func(n counts) float64 { return float64(n.retries) }},
		{"s3put_bytes_total", "Bytes stored.", func(n counts) float64 { return float64(n.bytes) }},
	} {
		m.Counter(c.name, c.help, func() float64 {
			u.mu.Lock()
			defer u.mu.Unlock()
			return c.v(u.n)
		})
	}
	m.Gauge("s3put_oldest_waiting_seconds", "Age of the oldest finished object in the spools, waiting to be stored.", func() float64 {
		u.mu.Lock()
		defer u.mu.Unlock()
		var oldest time.Duration
		for _, d := range u.spools {
			oldest = max(oldest, d.OldestWaiting())
		}
		return oldest.Seconds()
	})
	m.Register(u.took)
}

// Stats is the stats line in objects: every one asked for, from stdin or
// the spool, is out (stored), dropped (skipped: already gone, or another
// sky-s3put's), or unwritten (left in the spool); bad manifest lines are
// the stage's.
func (u *uploader) Stats(lines *stage.Stats) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	bad := lines.Bad.Load()
	s := fmt.Sprintf("in %d out %d dropped %d bad %d", int64(u.n.asked)+bad, u.n.stored, u.n.skipped(), bad)
	if u.n.failed > 0 {
		s += fmt.Sprintf(" unwritten %d", u.n.failed)
	}
	return s
}

// single uploads stdin as one object.
func (u *uploader) single(key, contentType string, in io.Reader) error {
	start := time.Now()
	etag, n, err := put(u.ctx, u.client, u.store, object{key: key, contentType: contentType}, in, -1)
	if err != nil {
		msg, _ := explain(err)
		return fmt.Errorf("%s: %s", key, msg)
	}
	data, _ := json.Marshal(Stored{Key: key, ETag: etag, Bytes: n, DurationMs: time.Since(start).Milliseconds()})
	u.w.Write(data)
	u.w.WriteByte('\n')
	return u.w.Flush()
}
