package batch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/skyflows/skyflows/lib/flowgen"
)

func run(t testing.TB, input []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := Run(append([]string{"sky-batch"}, args...), bytes.NewReader(input), &out, &errw)
	return out.String(), errw.String(), code
}

func manifests(t testing.TB, out string) []Manifest {
	t.Helper()
	var ms []Manifest
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m Manifest
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("manifest %q: %v", l, err)
		}
		ms = append(ms, m)
	}
	return ms
}

// contents decompresses an object and returns its NDJSON lines.
func contents(t testing.TB, m Manifest) []string {
	t.Helper()
	f, err := os.Open(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if m.ContentEncoding == "gzip" {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// tagged makes n flows with a Tag among three.
func tagged(t testing.TB, n int) []byte {
	var buf, out bytes.Buffer
	flowgen.New(3).Write(&buf, n)
	tags := []string{"ingress", "egress", "internal"}
	i := 0
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(&out, "%s,\"Tag\":%q}\n", line[:len(line)-1], tags[i%3])
		i++
	}
	return out.Bytes()
}

func withoutTag(line string) string {
	i := strings.LastIndex(line, `,"Tag":`)
	return line[:i] + "}"
}

// TestEveryRecordStored: records go into objects by tag, in order, whole,
// the tag moved into the key; a size-triggered flush followed by more
// input keeps every record.
func TestEveryRecordStored(t *testing.T) {
	in := tagged(t, 5000)
	spool := t.TempDir()
	out, errs, code := run(t, in, "--spool", spool, "--max-records", "700", "--max-bytes", "60000", "--prefix", "flows")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := map[string][]string{}
	total := 0
	sizeFlushes := 0
	for _, m := range manifests(t, out) {
		if !strings.HasPrefix(m.Key, "flows/"+m.Group+"/"+m.Stream+"/") || !strings.HasSuffix(m.Key, ".gz") {
			t.Errorf("key %s", m.Key)
		}
		if m.ContentEncoding != "gzip" || m.ContentType != "application/x-ndjson" || m.Metadata["num-records"] != fmt.Sprint(m.Records) {
			t.Errorf("manifest %+v", m)
		}
		if m.Records < 700 {
			sizeFlushes++
		}
		lines := contents(t, m)
		if len(lines) != m.Records {
			t.Errorf("%s: %d lines, manifest says %d", m.Key, len(lines), m.Records)
		}
		got[m.Group] = append(got[m.Group], lines...)
		total += m.Records
	}
	if total != 5000 || sizeFlushes < 3 {
		t.Fatalf("%d records stored, %d objects closed by size", total, sizeFlushes)
	}
	want := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
		tag := l[strings.LastIndex(l, `"Tag":"`)+7 : len(l)-2]
		want[tag] = append(want[tag], withoutTag(l))
	}
	for tag := range want {
		if !slices.Equal(got[tag], want[tag]) {
			t.Errorf("group %s: records differ", tag)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(spool, openDir)); len(entries) != 0 {
		t.Errorf("open objects left: %v", entries)
	}
}

func TestFormatsAndKeepGroup(t *testing.T) {
	in := tagged(t, 10)
	out, errs, _ := run(t, in, "--spool", t.TempDir(), "--format", "secadvisor", "--keep-group-field", "--compress", "none", "--group-by", "nothing")
	ms := manifests(t, out)
	if len(ms) != 1 || ms[0].Group != "untagged" || ms[0].ContentEncoding != "" || !strings.HasSuffix(ms[0].Key, "/00000000") {
		t.Fatalf("%+v %s", ms, errs)
	}
	doc := strings.Join(contents(t, ms[0]), "\n")
	var v struct{ Data []map[string]any }
	if err := json.Unmarshal([]byte(doc), &v); err != nil || len(v.Data) != 10 || v.Data[0]["Tag"] != "ingress" {
		t.Errorf("secadvisor document: %v", err)
	}
}

func TestLayouts(t *testing.T) {
	first := time.Date(2026, 11, 26, 22, 7, 0, 0, time.UTC)
	v := keyValues{prefix: "p", group: "ingress", stream: "20261126T220000Z", host: "h", seq: 7, ext: ".gz", first: first}
	vars := map[string]string{"account": "123456789012", "region": "eu-de", "flowlog": "fl-1", "vpc": "v", "subnet": "s", "instance": "i", "vnic": "n"}
	for layout, pattern := range map[string]string{
		"original": `^p/ingress/20261126T220000Z/00000007\.gz$`,
		"aws":      `^p/AWSLogs/123456789012/vpcflowlogs/eu-de/2026/11/26/123456789012_vpcflowlogs_eu-de_fl-1_20261126T2207Z_[0-9a-f]{16}\.log\.gz$`,
		"ibm":      `^p/ibm_vpc_flowlogs_v1/account=123456789012/region=eu-de/vpc-id=v/subnet-id=s/endpoint-type=vnics/instance-id=i/vnic-id=n/record-type=ingress/year=2026/month=11/day=26/hour=22/stream-id=20261126T220000Z/00000007\.gz$`,
	} {
		tmpl, err := newTemplate(strings.ReplaceAll(Layouts[layout], "{ext}", ".gz"), vars)
		if err != nil {
			t.Fatal(err)
		}
		key, err := tmpl.key(v)
		if err != nil || !regexpMatch(pattern, key) {
			t.Errorf("%s: %s %v", layout, key, err)
		}
	}
	if _, err := newTemplate("{prefix}/{account}", nil); err == nil {
		t.Error("a template with an unknown placeholder passed")
	}
}

// TestKeysStayInside: no group, prefix or variable value can make a key
// that escapes a directory.
func TestKeysStayInside(t *testing.T) {
	tmpl, _ := newTemplate("{prefix}/{group}/{x}/{seq}", map[string]string{"x": "../../etc"})
	for _, group := range []string{"..", ".", "../../etc/passwd", "a/b", "/abs", "", "x\x00y", `a\b`} {
		key, err := tmpl.key(keyValues{prefix: "../up/./x", group: group})
		if err != nil {
			t.Errorf("group %q: %v", group, err)
			continue
		}
		if checkKey(key) != nil || strings.Contains(key, "..") && !strings.Contains(key, "_..") {
			t.Errorf("group %q: key %q", group, key)
		}
		if !filepath.IsLocal(key) {
			t.Errorf("group %q: key %q is not local", group, key)
		}
	}
	if _, err := newTemplate("{prefix}/../{seq}", nil); err != nil {
		t.Fatal(err)
	}
	bad, _ := newTemplate("{prefix}/../{seq}", nil)
	if _, err := bad.key(keyValues{prefix: "p"}); err == nil {
		t.Error("a template with .. made a key")
	}
}

func FuzzKey(f *testing.F) {
	f.Add("ingress", "flows/x", "v")
	f.Add("..", "../..", "/")
	f.Fuzz(func(t *testing.T, group, prefix, v string) {
		tmpl, err := newTemplate("{prefix}/{group}/{v}/{seq}", map[string]string{"v": v})
		if err != nil {
			return // an empty variable is refused
		}
		key, err := tmpl.key(keyValues{prefix: prefix, group: group, seq: 1})
		if err != nil {
			return
		}
		if !filepath.IsLocal(key) || checkKey(key) != nil {
			t.Fatalf("key %q escapes", key)
		}
	})
}

// TestNoRepeatedKeys: runs in the same second still get distinct streams.
func TestNoRepeatedKeys(t *testing.T) {
	spool := t.TempDir()
	seen := map[string]bool{}
	for range 3 {
		out, _, _ := run(t, tagged(t, 3), "--spool", spool)
		for _, m := range manifests(t, out) {
			if seen[m.Key] {
				t.Fatalf("key %s made twice", m.Key)
			}
			seen[m.Key] = true
		}
	}
}

// TestRecoverAfterCrash: objects left open by a crash are finished, every
// complete record kept, before new input.
func TestRecoverAfterCrash(t *testing.T) {
	spool := t.TempDir()
	in := tagged(t, 300)
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	cli := testContext(t, "--spool", spool, "--max-records", "1000")
	b, err := open(cli, w, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(in)), "\n")
	for _, l := range lines {
		if _, err := b.Record([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: nothing closed; half a line at the end of a journal.
	for _, o := range b.open {
		o.journalW.Flush()
		o.journal.WriteString(`{"UUID":"torn`)
	}
	// And an object opened just before the crash, with nothing written out.
	os.WriteFile(filepath.Join(spool, openDir, "x.meta"), []byte(`{"id":"x","key":"k/x","group":"g","stream":"s","seq":0}`), 0o644)
	os.WriteFile(filepath.Join(spool, openDir, "x.ndjson"), nil, 0o644)
	rout, errs, code := run(t, nil, "--spool", spool)
	if code != 0 || strings.Count(errs, "recovered") != 3 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	total := 0
	for _, m := range manifests(t, rout) {
		total += len(contents(t, m))
	}
	if total != 300 || len(manifests(t, rout)) != 3 {
		t.Fatalf("%d records recovered in %d objects, want 300 in 3", total, len(manifests(t, rout)))
	}
	if entries, _ := os.ReadDir(filepath.Join(spool, openDir)); len(entries) != 0 {
		t.Errorf("left open: %v", entries)
	}
}

// TestUnwritableSpool: a spool that cannot be made is a plain error
// (root writes anywhere, so a file stands where the spool should be).
func TestUnwritableSpool(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	_, errs, code := run(t, tagged(t, 1), "--spool", file)
	if code != 1 || !strings.Contains(errs, "sky-batch: spool: mkdir") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// TestMaxOpen: grouping by a field of many values keeps few files open.
func TestMaxOpen(t *testing.T) {
	in := tagged(t, 300)
	uuids := map[string]bool{}
	for line := range bytes.Lines(in) {
		var f struct{ UUID string }
		json.Unmarshal(line, &f)
		uuids[f.UUID] = true
	}
	out, errs, code := run(t, in, "--spool", t.TempDir(), "--group-by", "UUID", "--max-open", "5")
	if code != 0 || len(manifests(t, out)) < len(uuids) {
		t.Fatalf("exit %d, %d objects for %d UUIDs: %s", code, len(manifests(t, out)), len(uuids), errs)
	}
	records := 0
	for _, m := range manifests(t, out) {
		records += m.Records
	}
	if records != 300 {
		t.Errorf("%d records in the objects, want 300", records)
	}
}

func TestAccount(t *testing.T) {
	acc := filepath.Join(t.TempDir(), "account.json")
	out, _, _ := run(t, tagged(t, 30), "--spool", t.TempDir(), "--account", acc, "--max-records", "5")
	var rec accountRecord
	data, _ := os.ReadFile(acc)
	json.Unmarshal(data, &rec)
	var total int64
	ms := manifests(t, out)
	for _, m := range ms {
		total += m.Bytes
	}
	if rec.Objects != len(ms) || rec.TotalBytes != total || rec.LastKey != ms[len(ms)-1].Key {
		t.Errorf("account %+v, want %d objects, %d bytes", rec, len(ms), total)
	}
	if _, err := os.Stat(acc + ".bak"); err != nil {
		t.Error("no .bak")
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--format", "xml"}, {"--compress", "lz4"}, {"--level", "12"}, {"--layout", "gcs"}, {"--var", "x"}, {"--key-template", "{nope}"}, {"--max-records", "0"}} {
		if _, errs, code := run(t, nil, append([]string{"--spool", t.TempDir()}, args...)...); code != 2 {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

// BenchmarkGzip is the compression alone, at sky-batch's default level,
// of what BenchmarkBatch batches: the bound of sky-batch's speed.
func BenchmarkGzip(b *testing.B) {
	in := tagged(b, 20000)
	b.SetBytes(int64(len(in)))
	var out countWriter
	for b.Loop() {
		out = 0
		w, _ := kgzip.NewWriterLevel(&out, 6)
		w.Write(in)
		w.Close()
	}
	b.ReportMetric(float64(out)/float64(len(in)), "ratio")
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func BenchmarkBatch(b *testing.B) {
	in := tagged(b, 20000)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, code := run(b, in, "--spool", b.TempDir(), "-q"); code != 0 {
			b.Fatal(code)
		}
	}
}
