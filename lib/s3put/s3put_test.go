package s3put

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/skyflows/skyflows/lib/batch"
	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/spool"
	"github.com/skyflows/skyflows/lib/stage"
)

// The tests run against a real versitygw that scripts/s3local.sh starts;
// without it they fail.
var (
	s3dir    string
	s3addr   string
	endpoint string
)

const access, secret = "skyflows", "skyflows-test-secret"

func script(args ...string) error {
	cmd := exec.Command("../../scripts/s3local.sh", args...)
	cmd.Env = append(os.Environ(), "S3LOCAL_DIR="+s3dir, "S3LOCAL_ADDR="+s3addr, "S3LOCAL_BUCKET=",
		"S3LOCAL_ACCESS_KEY="+access, "S3LOCAL_SECRET_KEY="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("s3local.sh %v: %v: %s", args, err, out)
	}
	return nil
}

// quietPort is a free local address below the ephemeral port range, so
// that no outgoing connection takes it while the tests stop and start
// the server there.
func quietPort() string {
	for {
		addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(22000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
}

// restart starts the server again after an outage; a failure fails the
// test at once rather than leave sky-s3put waiting out the outage.
func restart(t *testing.T) {
	if err := script("start"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skyflows-s3")
	if err != nil {
		panic(err)
	}
	s3dir = dir
	s3addr = quietPort()
	endpoint = "http://" + s3addr
	if err := script("start"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	script("stop")
	os.RemoveAll(dir)
	os.Exit(code)
}

// s3put runs sky-s3put against the test server.
func s3put(t testing.TB, input []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	base := []string{"sky-s3put", "--endpoint", endpoint, "--path-style", "--region", "us-east-1",
		"--access-key", access, "--secret-key", secret, "--max-backoff", "200ms"}
	code := Run(append(base, args...), bytes.NewReader(input), &out, &errw)
	return out.String(), errw.String(), code
}

func bucket(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if _, errs, code := s3put(t, nil, "--bucket", name, "--create-bucket", "--check"); code != 0 {
		t.Fatalf("create bucket: %s", errs)
	}
	return name
}

func client(t *testing.T) *s3.Client {
	c, err := newClient(context.Background(), clientOptions{endpoint: endpoint, region: "us-east-1", accessKey: access, secretKey: secret, pathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// spooled runs sky-batch over n tagged flows and returns its manifests.
func spooled(t testing.TB, n int, args ...string) ([]byte, string) {
	t.Helper()
	var flows, tagged bytes.Buffer
	flowgen.New(5).Write(&flows, n)
	for i, l := range bytes.Split(bytes.TrimSpace(flows.Bytes()), []byte("\n")) {
		fmt.Fprintf(&tagged, "%s,\"Tag\":%q}\n", l[:len(l)-1], []string{"ingress", "egress"}[i%2])
	}
	dir := t.TempDir()
	var out, errw bytes.Buffer
	if code := batch.Run(append([]string{"sky-batch", "-q", "--spool", dir}, args...), &tagged, &out, &errw); code != 0 {
		t.Fatalf("sky-batch: %s", errw.String())
	}
	return out.Bytes(), dir
}

// storedRecords counts the records of a bucket's objects.
func storedRecords(t *testing.T, name string) int {
	t.Helper()
	n := 0
	for _, recs := range stored(t, name) {
		n += len(recs)
	}
	return n
}

// stored lists a bucket and reads every object's records.
func stored(t *testing.T, name string) map[string][]string {
	t.Helper()
	c := client(t)
	objects := map[string][]string{}
	list, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		got, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(name), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body := io.Reader(got.Body)
		if aws.ToString(got.ContentEncoding) == "gzip" {
			body, _ = gzip.NewReader(got.Body)
		}
		data, _ := io.ReadAll(body)
		got.Body.Close()
		objects[aws.ToString(o.Key)] = strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	return objects
}

func spoolEmpty(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"ready", "manifests", "open"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, d)); len(entries) > 0 {
			t.Errorf("spool %s not empty: %d entries", d, len(entries))
		}
	}
}

// TestEndToEnd: the records in the bucket are the records that entered,
// with the keys, metadata and encoding the manifests gave.
func TestEndToEnd(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 3000, "--max-records", "400")
	out, errs, code := s3put(t, manifests, "--bucket", name, "--spool", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	objects := stored(t, name)
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(string(manifests)), "\n") {
		var m spool.Manifest
		json.Unmarshal([]byte(line), &m)
		if len(objects[m.Key]) != m.Records {
			t.Errorf("%s: %d records stored, %d sent", m.Key, len(objects[m.Key]), m.Records)
		}
		total += len(objects[m.Key])
		head, err := client(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(name), Key: aws.String(m.Key)})
		if err != nil || aws.ToString(head.ContentEncoding) != "gzip" || aws.ToString(head.ContentType) != "application/x-ndjson" ||
			head.Metadata["num-records"] != fmt.Sprint(m.Records) || head.Metadata["first-timestamp"] != fmt.Sprint(m.FirstTimestamp) {
			t.Errorf("%s: head %+v %v", m.Key, head, err)
		}
	}
	if total != 3000 || strings.Count(out, `"etag"`) != len(objects) {
		t.Errorf("%d records stored; %d objects, output:\n%s", total, len(objects), out)
	}
	spoolEmpty(t, dir)
}

// TestOutage: the store stops mid-run and comes back; everything is
// stored afterwards, nothing lost.
func TestOutage(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 2000, "--max-records", "200")
	if err := script("stop"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(1500 * time.Millisecond)
		restart(t)
	}()
	_, errs, code := s3put(t, manifests, "--bucket", name, "--spool", dir)
	if code != 0 || !strings.Contains(errs, "store unreachable") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := storedRecords(t, name); n != 2000 {
		t.Fatalf("%d records stored after the outage, want 2000", n)
	}
	spoolEmpty(t, dir)
}

// TestElapsedCountsTheSpool: the objects an earlier run left, uploaded
// before stdin is read (here through an outage), are in the run's
// elapsed time (it said 10ms for a 16 s upload).
func TestElapsedCountsTheSpool(t *testing.T) {
	name := bucket(t)
	_, dir := spooled(t, 2000, "--max-records", "100")
	if err := script("stop"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(time.Second)
		restart(t)
	}()
	start := time.Now()
	_, errs, code := s3put(t, nil, "--bucket", name, "--spool", dir)
	wall := time.Since(start)
	m := regexp.MustCompile(`elapsed (\S+)`).FindStringSubmatch(errs)
	if code != 0 || m == nil {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if elapsed, err := time.ParseDuration(m[1]); err != nil || elapsed < wall*9/10 {
		t.Errorf("elapsed %s for a run of %s: %s", m[1], wall, errs)
	}
	spoolEmpty(t, dir)
}

// TestRefusals: wrong credentials or a missing bucket are plain errors and
// the objects stay in the spool.
func TestRefusals(t *testing.T) {
	manifests, dir := spooled(t, 100)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bucket", "no-such-bucket"}, "the bucket does not exist (NoSuchBucket); objects stay in the spool"},
		{[]string{"--bucket", bucket(t), "--secret-key", "wrong"}, "the secret key is wrong (SignatureDoesNotMatch)"},
	} {
		_, errs, code := s3put(t, manifests, append(c.args, "--spool", dir)...)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Contains(errs, secret) {
			t.Errorf("%v: exit %d: %s", c.args, code, errs)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "ready")); len(entries) == 0 {
		t.Error("objects left the spool")
	}
	// Then cron mode picks them up.
	name := bucket(t)
	if _, errs, code := s3put(t, nil, "--bucket", name, "--spool", dir); code != 0 {
		t.Fatalf("cron: %s", errs)
	}
	spoolEmpty(t, dir)
}

// TestOrphanManifest: a run killed between removing a stored object and
// its manifest leaves the manifest; the next run removes it.
func TestOrphanManifest(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 10)
	var m spool.Manifest
	json.Unmarshal(bytes.SplitN(manifests, []byte("\n"), 2)[0], &m)
	os.Remove(filepath.Join(dir, m.Path))
	_, errs, code := s3put(t, nil, "--bucket", name, "--spool", dir)
	if code != 0 || !strings.Contains(errs, m.Key+": stored by an earlier run; its manifest removed") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	spoolEmpty(t, dir)
}

func TestBadManifestLines(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 50)
	input := append([]byte("not json\n{\"key\":\"x\"}\n"), manifests...)
	_, errs, code := s3put(t, input, "--bucket", name, "--spool", dir)
	if code != 0 || !strings.Contains(errs, "line 1: manifest: ") || !strings.Contains(errs, "line 2: manifest: no path or key") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if len(stored(t, name)) != 2 {
		t.Error("good manifests not stored")
	}
}

func TestKeepAndSingle(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 20)
	keep := t.TempDir()
	if _, errs, code := s3put(t, manifests, "--bucket", name, "--keep", keep, "--spool", dir); code != 0 {
		t.Fatal(errs)
	}
	kept, _ := filepath.Glob(filepath.Join(keep, "*", "*", "*.gz"))
	if len(kept) != 2 {
		t.Errorf("kept %v", kept)
	}
	spoolEmpty(t, dir)

	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16+100) // over one 5 MiB part
	out, errs, code := s3put(t, big, "--bucket", name, "--key", "dir/big.bin", "--part-size", "5242880")
	if code != 0 || !strings.Contains(out, `"key":"dir/big.bin"`) {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	got, err := client(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(name), Key: aws.String("dir/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	if !bytes.Equal(data, big) {
		t.Error("multipart object differs")
	}
}

// TestCABundle: with AWS_CA_BUNDLE set, as on these machines, the client
// still builds and works.
func TestCABundle(t *testing.T) {
	bundle := "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(bundle); err != nil {
		t.Skipf("no CA bundle at %s (Debian's path)", bundle)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	name := bucket(t)
	manifests, dir := spooled(t, 10)
	if _, errs, code := s3put(t, manifests, "--bucket", name, "--spool", dir); code != 0 {
		t.Fatal(errs)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--bucket", "b", "--sse", "rot13"}, {"--bucket", "b", "--part-size", "100"}} {
		if _, errs, code := s3put(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

// TestOnlyItsOwnFiles: whatever a manifest names, sky-s3put reads and
// removes only regular files in its spool's ready/.
func TestOnlyItsOwnFiles(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 10)
	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "victim")
	os.WriteFile(victim, []byte("not yours\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "ready", "adir"), 0o755)
	os.Symlink(victim, filepath.Join(dir, "ready", "alink"))
	for _, id := range []string{"adir", "alink"} {
		os.WriteFile(filepath.Join(dir, "manifests", id+".json"), []byte(`{"path":"ready/`+id+`","key":"stolen/`+id+`"}`), 0o644)
	}
	// A manifest dropped in manifests/ that names a file elsewhere.
	os.WriteFile(filepath.Join(dir, "manifests", "evil.json"), []byte(`{"path":"`+victim+`","key":"stolen/evil"}`), 0o644)
	hostile := fmt.Sprintf(`{"path":%q,"key":"stolen/abs"}
{"path":"ready/../../%s","key":"stolen/dots"}
{"path":%q,"key":"stolen/dots2"}
`, victim, filepath.Base(victim), filepath.Join(dir, "ready", "..", "..", "victim"))
	_, errs, code := s3put(t, append([]byte(hostile), manifests...), "--bucket", name, "--spool", dir, "--max-retries", "1")
	if code != 1 {
		t.Errorf("exit %d, want 1 (objects asked for were not stored): %s", code, errs)
	}
	if data, err := os.ReadFile(victim); err != nil || string(data) != "not yours\n" {
		t.Fatalf("the file outside the spool was touched: %v", err)
	}
	for key := range stored(t, name) {
		if strings.HasPrefix(key, "stolen/") {
			t.Errorf("%s uploaded", key)
		}
	}
	if len(stored(t, name)) != 2 {
		t.Errorf("the spool's own objects not stored: %s", errs)
	}
	for _, want := range []string{"is not in the spool", "is not ready/NAME in the spool", "not a regular file", "a symbolic link", "it names another object"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no %q in: %s", want, errs)
		}
	}
	if strings.Contains(errs, "attempt 2") {
		t.Errorf("a file that is not an object was retried: %s", errs)
	}
}

// TestRelativeSpool: manifests name objects relative to the spool, so
// sky-s3put run from elsewhere, with the spool's absolute path, finds them.
func TestRelativeSpool(t *testing.T) {
	name := bucket(t)
	dir := t.TempDir()
	t.Chdir(dir)
	var flows bytes.Buffer
	flowgen.New(3).Write(&flows, 40)
	var out, errw bytes.Buffer
	if code := batch.Run([]string{"sky-batch", "-q", "--spool", "spool", "--max-records", "10"}, &flows, &out, &errw); code != 0 {
		t.Fatal(errw.String())
	}
	t.Chdir(t.TempDir())
	_, errs, code := s3put(t, nil, "--bucket", name, "--spool", filepath.Join(dir, "spool"))
	if code != 0 || len(stored(t, name)) != 4 {
		t.Fatalf("exit %d, %d objects: %s", code, len(stored(t, name)), errs)
	}
	spoolEmpty(t, filepath.Join(dir, "spool"))
}

// TestTwoUploaders: two sky-s3put on one spool store every object once,
// and neither fails.
func TestTwoUploaders(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 3000, "--max-records", "30")
	type result struct {
		out, errs string
		code      int
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			out, errs, code := s3put(t, manifests, "--bucket", name, "--spool", dir)
			results <- result{out, errs, code}
		}()
	}
	stores := 0
	for range 2 {
		r := <-results
		if r.code != 0 {
			t.Errorf("exit %d: %s", r.code, r.errs)
		}
		stores += strings.Count(r.out, `"etag"`) - strings.Count(r.out, `"already":true`)
	}
	objects := stored(t, name)
	if stores != 100 || len(objects) != 100 {
		t.Errorf("%d uploads for %d objects, want 100 and 100", stores, len(objects))
	}
	spoolEmpty(t, dir)
}

// TestNeverOverwrite: a key already in the bucket is never written over:
// the same object is "already stored" and leaves the spool, another one
// is an error and stays.
func TestNeverOverwrite(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 20, "--key-template", "fixed/{group}/{random}.gz")
	var ms []spool.Manifest
	for _, line := range strings.Split(strings.TrimSpace(string(manifests)), "\n") {
		var m spool.Manifest
		json.Unmarshal([]byte(line), &m)
		ms = append(ms, m)
	}
	// The first object is already there, the same; the second's key holds
	// other content.
	first, _ := os.ReadFile(filepath.Join(dir, ms[0].Path))
	c := client(t)
	for i, body := range [][]byte{first, []byte("other")} {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(ms[i].Key),
			Body: bytes.NewReader(body), Metadata: map[string]string{"sha256": map[bool]string{true: ms[0].SHA256, false: "x"}[i == 0]}}); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code := s3put(t, manifests, "--bucket", name, "--spool", dir)
	if code != 1 || !strings.Contains(out, `"already":true`) || !strings.Contains(errs, ms[1].Key+": the key exists in the bucket with other content") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	got, _ := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(name), Key: aws.String(ms[1].Key)})
	data, _ := io.ReadAll(got.Body)
	if string(data) != "other" {
		t.Error("an object was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, ms[1].Path)); err != nil {
		t.Error("the conflicting object left the spool")
	}
	if _, err := os.Stat(filepath.Join(dir, ms[0].Path)); err == nil {
		t.Error("the object already stored stayed in the spool")
	}
}

// TestGiveUpFails: objects left in the spool make the exit 1, counted in
// objects whether from stdin or the spool.
func TestGiveUpFails(t *testing.T) {
	manifests, dir := spooled(t, 40, "--max-records", "10")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	var out, errw bytes.Buffer
	code := Run([]string{"sky-s3put", "--endpoint", dead, "--path-style", "--region", "us-east-1", "--access-key", access,
		"--secret-key", secret, "--max-backoff", "10ms", "--max-retries", "2", "--bucket", "b", "--spool", dir},
		bytes.NewReader(manifests), &out, &errw)
	if code != 1 || !strings.Contains(errw.String(), "sky-s3put: stats: in 4 out 0 dropped 0 bad 0 unwritten 4") ||
		!strings.Contains(errw.String(), "4 objects not stored") {
		t.Errorf("exit %d: %s", code, errw.String())
	}
	// From the spool alone, the same count.
	name := bucket(t)
	_, errs, code := s3put(t, nil, "--bucket", name, "--spool", dir)
	if code != 0 || !strings.Contains(errs, "sky-s3put: stats: in 4 out 4 dropped 0 bad 0") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// TestTLSFailuresAreFatal: a certificate the client does not trust, or
// https to a plain-HTTP port, stops at once with a plain line, exit 1,
// objects kept.
func TestTLSFailuresAreFatal(t *testing.T) {
	manifests, dir := spooled(t, 10)
	tlsServer := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsServer.Close()
	for _, c := range []struct{ endpoint, want string }{
		{tlsServer.URL, "TLS: the store's certificate is signed by an authority this machine does not trust"},
		{"https://" + s3addr, "TLS: the store does not speak TLS on that port"},
	} {
		var out, errw bytes.Buffer
		code := Run([]string{"sky-s3put", "--endpoint", c.endpoint, "--path-style", "--region", "us-east-1", "--access-key", access,
			"--secret-key", secret, "--max-backoff", "10ms", "--bucket", "b", "--spool", dir}, bytes.NewReader(manifests), &out, &errw)
		if code != 1 || !strings.Contains(errw.String(), c.want) || strings.Contains(errw.String(), "attempt 2") {
			t.Errorf("%s: exit %d: %s", c.endpoint, code, errw.String())
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "ready")); len(entries) != 2 {
		t.Errorf("objects left the spool")
	}
}

// TestCheck: --check puts and deletes a probe object; exit 0 or 1.
func TestCheck(t *testing.T) {
	name := bucket(t)
	if _, errs, code := s3put(t, nil, "--bucket", name, "--check"); code != 0 || !strings.Contains(errs, "credentials, bucket and writing are fine") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if len(stored(t, name)) != 0 {
		t.Error("the probe object stayed")
	}
	for _, args := range [][]string{{"--bucket", "no-such-bucket"}, {"--bucket", name, "--secret-key", "wrong"}} {
		if _, errs, code := s3put(t, nil, append(args, "--check")...); code != 1 || !strings.Contains(errs, "check: bucket") || strings.Contains(errs, secret) {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

// TestSignalDuringOutage: a stop while the store is away keeps the
// objects in the spool and exits 1: they were not stored.
func TestSignalDuringOutage(t *testing.T) {
	manifests, dir := spooled(t, 40, "--max-records", "10")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, stderr bytes.Buffer
	errw := &stage.LockedWriter{W: &stderr}
	said := func() string {
		errw.Mu.Lock()
		defer errw.Mu.Unlock()
		return stderr.String()
	}
	done := make(chan int)
	go func() {
		done <- RunContext(ctx, []string{"sky-s3put", "--endpoint", dead, "--path-style", "--region", "us-east-1", "--access-key", access,
			"--secret-key", secret, "--max-backoff", "50ms", "--bucket", "b", "--spool", dir}, bytes.NewReader(manifests), &out, errw)
	}()
	for !strings.Contains(said(), "attempt 3") {
		select {
		case code := <-done:
			t.Fatalf("exit %d before the signal: %s", code, said())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 1 || !strings.Contains(said(), "4 objects not stored") {
		t.Errorf("exit %d: %s", code, said())
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "ready")); len(entries) != 4 {
		t.Errorf("%d objects in the spool, want 4", len(entries))
	}
}

// TestMetricsFile: sky-s3put's own metrics at exit.
func TestMetricsFile(t *testing.T) {
	name := bucket(t)
	manifests, dir := spooled(t, 40, "--max-records", "10")
	file := filepath.Join(t.TempDir(), "s3put.prom")
	if _, errs, code := s3put(t, manifests, "--bucket", name, "--spool", dir, "--metrics-file", file); code != 0 {
		t.Fatal(errs)
	}
	data, _ := os.ReadFile(file)
	for _, want := range []string{
		`skyflows_s3put_objects_stored_total{stage="sky-s3put"} 4`,
		`skyflows_s3put_objects_failed_total{stage="sky-s3put"} 0`,
		`skyflows_s3put_oldest_waiting_seconds{stage="sky-s3put"} 0`,
		`skyflows_s3put_upload_seconds_count{stage="sky-s3put"} 4`,
	} {
		if !strings.Contains(string(data), want+"\n") {
			t.Errorf("no %s in:\n%s", want, data)
		}
	}
}

// TestSpoolDirsAreItsOwn: a spool's ready/ or manifests/ that is a link
// to a directory elsewhere (as an attacker who can write the spool makes
// it) stops sky-s3put with exit 1 before it reads or removes anything
// there; the files it leads to stay, and nothing reaches the bucket.
func TestSpoolDirsAreItsOwn(t *testing.T) {
	for _, sub := range []string{spool.Ready, spool.Manifests} {
		t.Run(sub, func(t *testing.T) {
			name := bucket(t)
			manifests, dir := spooled(t, 10)
			elsewhere := t.TempDir()
			os.WriteFile(filepath.Join(elsewhere, "victim"), []byte("not yours\n"), 0o644)
			os.WriteFile(filepath.Join(elsewhere, "victim.json"), []byte(`{"path":"ready/victim","key":"stolen/victim"}`), 0o644)
			if err := os.Rename(filepath.Join(dir, sub), filepath.Join(dir, sub+".moved")); err != nil {
				t.Fatal(err)
			}
			os.Symlink(elsewhere, filepath.Join(dir, sub))
			line := []byte(`{"path":"ready/victim","key":"stolen/victim"}` + "\n")
			for _, input := range [][]byte{nil, line, manifests} {
				_, errs, code := s3put(t, input, "--bucket", name, "--spool", dir)
				if code != 1 || !strings.Contains(errs, sub+"/: not a directory of the spool's own") {
					t.Errorf("exit %d, want 1 and a line naming %s/: %s", code, sub, errs)
				}
			}
			// Without --spool, the manifest lines' own spool: the same.
			if _, errs, code := s3put(t, manifests, "--bucket", name); code != 1 {
				t.Errorf("from the lines' spool: exit %d, want 1: %s", code, errs)
			}
			for _, f := range []string{"victim", "victim.json"} {
				if _, err := os.Stat(filepath.Join(elsewhere, f)); err != nil {
					t.Errorf("%s, outside the spool, was removed", f)
				}
			}
			if n := len(stored(t, name)); n != 0 {
				t.Errorf("%d objects stored", n)
			}
		})
	}
}

// TestPipeWithoutSpool: sky-batch --spool X | sky-s3put, with no spool
// flag or variable, stores every object from the spool each manifest line
// names; a differing --spool is an error that names both spools and
// keeps the objects; a line naming an object in no spool and not in the
// bucket is an error, and one already stored is skipped as such.
func TestPipeWithoutSpool(t *testing.T) {
	t.Setenv("SKY_SPOOL", "")
	os.Unsetenv("SKY_SPOOL")
	name := bucket(t)
	manifests, dir := spooled(t, 300, "--max-records", "30")
	other := t.TempDir()
	_, errs, code := s3put(t, manifests, "--bucket", name, "--spool", other)
	if code != 1 || !strings.Contains(errs, "the manifest is of the spool "+dir+", not of --spool "+other) {
		t.Errorf("a differing --spool: exit %d: %s", code, errs)
	}
	if len(stored(t, name)) != 0 {
		t.Error("objects stored from another spool than --spool")
	}
	out, errs, code := s3put(t, manifests, "--bucket", name)
	if code != 0 || strings.Count(out, `"etag"`) != 10 || len(stored(t, name)) != 10 {
		t.Fatalf("exit %d, %d objects: %s", code, len(stored(t, name)), errs)
	}
	spoolEmpty(t, dir)
	// The same lines again: every object is in the bucket, the same.
	_, errs, code = s3put(t, manifests, "--bucket", name)
	if code != 0 || !strings.Contains(errs, "10 skipped (10 already stored, 0 another sky-s3put's)") {
		t.Errorf("lines of stored objects: exit %d: %s", code, errs)
	}
	// A line whose object is in neither.
	lost := strings.Replace(strings.SplitN(string(manifests), "\n", 2)[0], `"key":"`, `"key":"lost/`, 1) + "\n"
	_, errs, code = s3put(t, []byte(lost), "--bucket", name)
	if code != 1 || !strings.Contains(errs, "neither in the spool "+dir+" nor in the bucket") {
		t.Errorf("an object nowhere: exit %d: %s", code, errs)
	}
}

// TestNoSpool: a spool that does not exist is said, not passed over in
// silence (a mistyped --spool in a cron line); the run goes on, exit 0,
// as at the start of a pipeline whose sky-batch has not made it yet.
func TestNoSpool(t *testing.T) {
	name := bucket(t)
	missing := filepath.Join(t.TempDir(), "typo")
	_, errs, code := s3put(t, nil, "--bucket", name, "--spool", missing)
	if code != 0 || !strings.Contains(errs, "no spool at "+missing+" (yet)") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// BenchmarkUpload: sky-s3put stores 50 000 flows in gzip objects of
// 6 000 records (its default concurrency) into the local versitygw.
func BenchmarkUpload(b *testing.B) {
	name := bucket(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		manifests, dir := spooled(b, 50000)
		var size int64
		for _, line := range bytes.Split(bytes.TrimSpace(manifests), []byte("\n")) {
			var m spool.Manifest
			if err := json.Unmarshal(line, &m); err != nil {
				b.Fatal(err)
			}
			size += m.Bytes
		}
		b.SetBytes(size)
		b.StartTimer()
		if _, errs, code := s3put(b, manifests, "--bucket", name, "--spool", dir); code != 0 {
			b.Fatalf("exit %d: %s", code, errs)
		}
	}
}
