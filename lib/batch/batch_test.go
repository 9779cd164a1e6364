package batch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"

	"github.com/skyflows/skyflows/lib/encode"
	"github.com/skyflows/skyflows/lib/flowgen"
	"github.com/skyflows/skyflows/lib/jsonscan"
	"github.com/skyflows/skyflows/lib/spool"
)

func run(t testing.TB, input []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := Run(append([]string{"sky-batch"}, args...), bytes.NewReader(input), &out, &errw)
	return out.String(), errw.String(), code
}

func manifests(t testing.TB, out string) []spool.Manifest {
	t.Helper()
	var ms []spool.Manifest
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m spool.Manifest
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("manifest %q: %v", l, err)
		}
		ms = append(ms, m)
	}
	return ms
}

// contents decompresses an object of spool and returns its NDJSON lines.
func contents(t testing.TB, spool string, m spool.Manifest) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(spool, m.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	switch m.ContentEncoding {
	case "gzip":
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		d, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r = d
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
		lines := contents(t, spool, m)
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
	spool := t.TempDir()
	out, errs, _ := run(t, in, "--spool", spool, "--format", "secadvisor", "--keep-group-field", "--compress", "none", "--group-by", "nothing")
	ms := manifests(t, out)
	if len(ms) != 1 || ms[0].Group != "untagged" || ms[0].ContentEncoding != "" || !strings.HasSuffix(ms[0].Key, "/00000000") {
		t.Fatalf("%+v %s", ms, errs)
	}
	doc := strings.Join(contents(t, spool, ms[0]), "\n")
	var v struct{ Data []map[string]any }
	if err := json.Unmarshal([]byte(doc), &v); err != nil || len(v.Data) != 10 || v.Data[0]["Tag"] != "ingress" {
		t.Errorf("secadvisor document: %v", err)
	}
}

func TestLayouts(t *testing.T) {
	first := time.Date(2026, 11, 26, 22, 7, 0, 0, time.UTC)
	v := keyValues{group: "ingress", stream: "20261126T220000Z", created: "20261126T220512Z", host: "h", seq: 7, first: first}
	vars := map[string]string{"account": "123456789012", "region": "eu-de", "flowlog": "fl-1", "vpc": "v", "subnet": "s", "instance": "i", "vnic": "n"}
	for layout, pattern := range map[string]string{
		"original":        `^p/ingress/20261126T220000Z/00000007\.gz$`,
		"aws":             `^p/AWSLogs/123456789012/vpcflowlogs/eu-de/2026/11/26/123456789012_vpcflowlogs_eu-de_fl-1_20261126T2207Z_[0-9a-f]{8}\.log\.gz$`,
		"aws-hourly":      `^p/AWSLogs/123456789012/vpcflowlogs/eu-de/2026/11/26/22/123456789012_vpcflowlogs_eu-de_fl-1_20261126T2207Z_[0-9a-f]{8}\.log\.gz$`,
		"aws-hive":        `^p/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-de/year=2026/month=11/day=26/123456789012_vpcflowlogs_eu-de_fl-1_20261126T2207Z_[0-9a-f]{8}\.log\.gz$`,
		"aws-hive-hourly": `^p/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-de/year=2026/month=11/day=26/hour=22/123456789012_vpcflowlogs_eu-de_fl-1_20261126T2207Z_[0-9a-f]{8}\.log\.gz$`,
		"ibm":             `^p/ibm_vpc_flowlogs_v1/account=123456789012/region=eu-de/vpc-id=v/subnet-id=s/endpoint-type=vnics/instance-id=i/vnic-id=n/record-type=ingress/year=2026/month=11/day=26/hour=22/stream-id=20261126T220512Z/00000007\.gz$`,
	} {
		tmpl, err := newTemplate(strings.ReplaceAll(Layouts[layout], "{ext}", ".gz"), "p", vars)
		if err != nil {
			t.Fatal(err)
		}
		key, err := tmpl.key(v)
		if err != nil || !regexpMatch(pattern, key) {
			t.Errorf("%s: %s %v", layout, key, err)
		}
	}
	if _, err := newTemplate("{prefix}/{account}/{random}", "", nil); err == nil {
		t.Error("a template with an unknown placeholder passed")
	}
}

// TestKeysStayInside: no group, prefix or variable value can make a key
// that escapes a directory.
func TestKeysStayInside(t *testing.T) {
	tmpl, _ := newTemplate("{prefix}/{group}/{x}/{stream}/{seq}", "../up/./x", map[string]string{"x": "../../etc"})
	for _, group := range []string{"..", ".", "../../etc/passwd", "a/b", "/abs", "", "x\x00y", `a\b`, "a\nb"} {
		key, err := tmpl.key(keyValues{group: group, stream: "s"})
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
}

// TestTemplatesCheckedAtStart: a template that can only repeat keys, or
// make bad ones, is a usage error before any record.
func TestTemplatesCheckedAtStart(t *testing.T) {
	for _, c := range []struct{ template, want string }{
		{"fixed.gz", "no part differs from object to object"},
		{"{prefix}/{group}/{seq}{ext}", "no part differs from object to object"},
		{"../{group}/{random}{ext}", "bad segment"},
		{"a//{random}", "not a clean relative path"},
		{"a\nb/{random}", "control character"},
		{"a\x01b/{random}", "control character"},
		{strings.Repeat("x", 1000) + "/{group}/{random}", "over S3's 1024"},
	} {
		_, errs, code := run(t, tagged(t, 3), "--spool", t.TempDir(), "--key-template", c.template)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d: %s", c.template, code, errs)
		}
	}
}

// TestHostileGroups: group values that clean to the same text, or are
// long, still go to objects of their own, with keys of their own, and
// every record is kept.
func TestHostileGroups(t *testing.T) {
	groups := []string{"a/b", "a_b", `a\b`, "é", "ü", "__", strings.Repeat("t", 225), strings.Repeat("t", 221) + "x", strings.Repeat("t", 222),
		"../x", "x\ny", "..", ".", ""}
	var in bytes.Buffer
	for i := range 20 * len(groups) {
		fmt.Fprintf(&in, "{\"n\":%d,\"Tag\":%q}\n", i, groups[i%len(groups)])
	}
	spool := t.TempDir()
	out, errs, code := run(t, in.Bytes(), "--spool", spool, "--keep-group-field", "--max-records", "7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	keys := map[string]string{} // key segment of the group -> group
	records := 0
	for _, m := range manifests(t, out) {
		seg := strings.Split(m.Key, "/")[0]
		if len(m.Key) > maxKey {
			t.Errorf("key of %d bytes", len(m.Key))
		}
		for _, line := range contents(t, spool, m) {
			var r struct{ Tag string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			group := r.Tag
			if group == "" {
				group = "untagged"
			}
			if prev, ok := keys[seg]; ok && prev != group {
				t.Errorf("groups %q and %q share key segment %q", prev, group, seg)
			}
			keys[seg] = group
			records++
		}
	}
	if records != 20*len(groups) {
		t.Errorf("%d records stored, want %d", records, 20*len(groups))
	}
	if n := len(keys); n != len(groups) {
		t.Errorf("%d key segments for %d groups: %v", n, len(groups), keys)
	}
	// A second run on the same spool starts cleanly.
	if _, errs, code := run(t, in.Bytes(), "--spool", spool); code != 0 {
		t.Errorf("second run: exit %d: %s", code, errs)
	}
}

// TestOneBatchPerSpool: a second sky-batch on a spool is refused.
func TestOneBatchPerSpool(t *testing.T) {
	spool := t.TempDir()
	b, err := open(testContext(t, "--spool", spool), bufio.NewWriter(io.Discard), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, tagged(t, 3), "--spool", spool)
	if code != 1 || !strings.Contains(errs, "is in use by another sky-batch") {
		t.Errorf("exit %d: %s", code, errs)
	}
	b.Close()
	if _, errs, code := run(t, tagged(t, 3), "--spool", spool); code != 0 {
		t.Errorf("after the first one: exit %d: %s", code, errs)
	}
}

// TestRecordsOfAnotherKind: a format that cannot take the first record
// stops the stage with one plain line, not a bad line per record.
func TestRecordsOfAnotherKind(t *testing.T) {
	_, errs, code := run(t, tagged(t, 50), "--spool", t.TempDir(), "-f", "awsflowlogs")
	if code != 1 || !strings.Contains(errs, "the first record is not one --format awsflowlogs takes") || strings.Count(errs, "not an AWS flow logs record") != 1 {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func FuzzKey(f *testing.F) {
	f.Add("ingress", "egress", "flows/x", "v", "{prefix}/{group}/{stream}/{seq}")
	f.Add("..", ".", "../..", "/", "{group}/{random}")
	f.Add("a/b", "a_b", "", "x", "{prefix}/{v}/{group}{random}")
	f.Fuzz(func(t *testing.T, group, other, prefix, v, text string) {
		tmpl, err := newTemplate(text, prefix, map[string]string{"v": v})
		if err != nil {
			return // refused at start
		}
		key, err := tmpl.key(keyValues{group: group, stream: "20261130T000000Z-000000000000", seq: 1})
		if err != nil {
			t.Fatalf("template %q passed the start, then %q made no key: %v", text, group, err)
		}
		if !filepath.IsLocal(key) || checkKey(key) != nil || len(key) > maxKey {
			t.Fatalf("key %q", key)
		}
		if group != other && keyValue(group) == keyValue(other) {
			t.Fatalf("groups %q and %q share %q", group, other, keyValue(group))
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

// TestRecoverAfterCrash: a crash at any point of a chunk loses nothing
// and repeats nothing: objects left open are finished with the records of
// committed chunks, and the rest of the input comes again from the input
// journal, before new input.
func TestRecoverAfterCrash(t *testing.T) {
	spool := t.TempDir()
	in := tagged(t, 300)
	b, err := open(testContext(t, "--spool", spool, "--max-records", "1000"), bufio.NewWriter(io.Discard), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// All the input read (and so journaled); the first 200 records
	// handled and committed, 50 more handled, not committed.
	r := bufio.NewReader(b.Journal(bytes.NewReader(in)))
	var offset int64
	for i := range 250 {
		line, _ := r.ReadBytes('\n')
		if _, err := b.Record(bytes.TrimSuffix(line, []byte("\n"))); err != nil {
			t.Fatal(err)
		}
		offset += int64(len(line))
		if i == 199 {
			if err := b.Commit(offset); err != nil {
				t.Fatal(err)
			}
		}
	}
	io.Copy(io.Discard, r)
	// The crash: journals written as far as they got, half a line last.
	for _, o := range b.open {
		o.journalW.Flush()
		o.journal.WriteString(`{"UUID":"torn`)
	}
	b.spool.close()
	// A power cut tore one object's meta (not fsynced): its records are
	// recovered all the same, under a key of the new stream.
	for _, o := range b.open {
		os.WriteFile(filepath.Join(spool, openDir, o.ID+".meta"), nil, 0o644)
		break
	}
	// And objects opened just before the crash, with nothing written
	// out, one of them with its meta torn.
	os.WriteFile(filepath.Join(spool, openDir, "x.meta"), []byte(`{"id":"x","key":"k/x","group":"g","stream":"s","seq":0}`), 0o644)
	os.WriteFile(filepath.Join(spool, openDir, "x.ndjson"), nil, 0o644)
	os.WriteFile(filepath.Join(spool, openDir, "y.meta"), make([]byte, 60), 0o644)
	os.WriteFile(filepath.Join(spool, openDir, "y.ndjson"), []byte(`{"UUID":"uncommitted","Tag":"g"}`+"\n"), 0o644)
	rout, errs, code := run(t, nil, "--spool", spool)
	if code != 0 || strings.Count(errs, "recovered") != 3 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	seen := map[string]int{}
	for _, m := range manifests(t, rout) {
		for _, line := range contents(t, spool, m) {
			seen[line]++
		}
	}
	for line := range bytes.Lines(in) {
		want := withoutTag(strings.TrimSpace(string(line)))
		if seen[want] != 1 {
			t.Fatalf("record stored %d times: %s", seen[want], want)
		}
	}
	if len(seen) != 300 {
		t.Fatalf("%d records stored, want 300", len(seen))
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

// TestAccount: the accounting file in the original exporter's format.
func TestAccount(t *testing.T) {
	acc := filepath.Join(t.TempDir(), "account.json")
	out, _, _ := run(t, tagged(t, 30), "--spool", t.TempDir(), "--account", acc, "--max-records", "5")
	data, _ := os.ReadFile(acc)
	var rec accountRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	var total int64
	ms := manifests(t, out)
	for _, m := range ms {
		total += m.Bytes
	}
	if rec.Version != "1.1.0" || rec.AccumulateBytes != total || rec.CurrentBytes != ms[len(ms)-1].Bytes ||
		rec.AccumulateStart == 0 || rec.AccumulateStart > rec.AccumulateEnd || rec.CurrentStart != rec.CurrentEnd {
		t.Errorf("account %+v, want %d bytes in all", rec, total)
	}
	if !strings.HasPrefix(string(data), "{\n \"version\": \"1.1.0\",\n \"accumulate-start\": ") {
		t.Errorf("not the original's layout:\n%s", data)
	}
	if _, err := os.Stat(acc + ".bak"); err != nil {
		t.Error("no .bak")
	}
	// A broken file: the .bak carries on.
	os.WriteFile(acc, []byte("{"), 0o644)
	run(t, tagged(t, 5), "--spool", t.TempDir(), "--account", acc, "--max-records", "5")
	var next accountRecord
	data, _ = os.ReadFile(acc)
	json.Unmarshal(data, &next)
	if next.AccumulateStart != rec.AccumulateStart || next.AccumulateBytes <= rec.AccumulateBytes-rec.CurrentBytes {
		t.Errorf("after a broken file: %+v, before %+v", next, rec)
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

// TestJournalStartsOver: past rotateAt the input journal starts over, and
// no record is lost or doubled on the way, through a pipe (spliced into
// the journal) and through a file (copied by the kernel).
func TestJournalStartsOver(t *testing.T) {
	defer func(n int64) { rotateAt = n }(rotateAt)
	rotateAt = 64 << 10
	in := tagged(t, 3000)
	for _, kind := range []string{"pipe", "file"} {
		spool := t.TempDir()
		var stdin *os.File
		switch kind {
		case "pipe":
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			go func() { w.Write(in); w.Close() }()
			stdin = r
		case "file":
			path := filepath.Join(t.TempDir(), "in")
			os.WriteFile(path, in, 0o644)
			stdin, _ = os.Open(path)
		}
		var out, errw bytes.Buffer
		code := Run([]string{"sky-batch", "--spool", spool, "--max-records", "5000", "--keep-group-field"}, stdin, &out, &errw)
		stdin.Close()
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, errw.String())
		}
		var got []string
		for _, m := range manifests(t, out.String()) {
			got = append(got, contents(t, spool, m)...)
		}
		slices.Sort(got)
		want := strings.Split(strings.TrimSpace(string(in)), "\n")
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d records stored of %d", kind, len(got), len(want))
		}
	}
}

// TestAWSWindows: with the aws layouts no object spans two 5-minute
// windows, and each is named by its window's start, as AWS names its
// files.
func TestAWSWindows(t *testing.T) {
	start := time.Date(2026, 11, 30, 10, 3, 0, 0, time.UTC).UnixMilli()
	var in bytes.Buffer
	for i := range 720 { // a record a second for 12 minutes, two windows open at once now and then
		ts := start + int64(i)*1000
		if i%10 == 0 && i > 0 {
			ts -= 90_000 // late
		}
		fmt.Fprintf(&in, `{"version":2,"srcaddr":"10.0.0.1","end":%d,"n":%d}`+"\n", ts/1000, i)
	}
	spool := t.TempDir()
	out, errs, code := run(t, in.Bytes(), "--spool", spool, "--layout", "aws-hive", "--group-by", "none",
		"--var", "account=1", "--var", "region=r", "--var", "flowlog=f", "--time-field", "end")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	window := int64(5 * 60 * 1000)
	records := 0
	for _, m := range manifests(t, out) {
		if m.FirstTimestamp/window != m.LastTimestamp/window {
			t.Errorf("%s spans two windows: %d to %d", m.Key, m.FirstTimestamp, m.LastTimestamp)
		}
		name := time.UnixMilli(m.FirstTimestamp - m.FirstTimestamp%window).UTC().Format("20060102T1504Z")
		if !strings.Contains(m.Key, "_"+name+"_") {
			t.Errorf("%s: not named by its window %s", m.Key, name)
		}
		records += m.Records
	}
	if records != 720 || len(manifests(t, out)) != 3 {
		t.Errorf("%d records in %d objects, want 720 in 3 (10:00, 10:05, 10:10)", records, len(manifests(t, out)))
	}
}

// TestIBMRecordType: IBM's record-type is ingress, egress or all, the
// values IBM documents, whatever the group.
func TestIBMRecordType(t *testing.T) {
	tmpl, err := newTemplate(Layouts["ibm"], "", map[string]string{"account": "a", "region": "r", "vpc": "v", "subnet": "s", "instance": "i", "vnic": "n"})
	if err != nil {
		t.Fatal(err)
	}
	for group, want := range map[string]string{"ingress": "ingress", "egress": "egress", "internal": "all", "other": "all", "untagged": "all"} {
		key, err := tmpl.key(keyValues{group: group, stream: "s", first: time.Now()})
		if err != nil || !strings.Contains(key, "/record-type="+want+"/") {
			t.Errorf("%s: %s %v", group, key, err)
		}
	}
}

// TestIBMHeader: with the ibm layout a vpclogs object's header has what
// IBM's has, from the layout's values, and the object's metadata too.
func TestIBMHeader(t *testing.T) {
	in := `{"start_time":"2026-11-30T10:00:00Z","end_time":"2026-11-30T10:00:05Z","initiator_ip":"10.0.0.1","Tag":"ingress"}` + "\n"
	spool := t.TempDir()
	out, errs, code := run(t, []byte(in), "--spool", spool, "--layout", "ibm", "-f", "vpclogs", "--compress", "none",
		"--header", "collector_crn=crn:c", "--var", "account=a", "--var", "region=r", "--var", "vpc=crn:vpc",
		"--var", "subnet=s", "--var", "instance=crn:i", "--var", "vnic=n-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m := manifests(t, out)[0]
	var doc map[string]any
	if err := json.Unmarshal([]byte(strings.Join(contents(t, spool, m), "\n")), &doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"collector_crn": "crn:c", "attached_endpoint_type": "vnic", "network_interface_id": "n-1",
		"instance_crn": "crn:i", "vpc_crn": "crn:vpc"} {
		if doc[k] != v || m.Metadata[k] != v {
			t.Errorf("%s: header %v, metadata %q, want %q", k, doc[k], m.Metadata[k], v)
		}
	}
}

// TestIBMStreamID: an IBM stream-id is the time the first object of its
// folder was made, as IBM defines it: the same for the objects of one
// hour and record-type, and no earlier than the run's start.
func TestIBMStreamID(t *testing.T) {
	var in bytes.Buffer
	for i := range 40 {
		fmt.Fprintf(&in, `{"start_time":"2026-11-30T10:%02d:00Z","end_time":"2026-11-30T10:%02d:05Z","Tag":"ingress"}`+"\n", i, i)
	}
	fmt.Fprintf(&in, `{"start_time":"2026-11-30T11:00:00Z","end_time":"2026-11-30T11:00:05Z","Tag":"ingress"}`+"\n")
	before := time.Now().UTC().Truncate(time.Second)
	out, errs, code := run(t, in.Bytes(), "--spool", t.TempDir(), "--layout", "ibm", "-f", "vpclogs", "--max-records", "10",
		"--var", "account=a", "--var", "region=r", "--var", "vpc=v", "--var", "subnet=s", "--var", "instance=i", "--var", "vnic=n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	streams := map[string]string{} // hour folder -> stream-id
	for _, m := range manifests(t, out) {
		dir, file := path.Split(m.Key)
		hour, stream := path.Split(strings.TrimSuffix(dir, "/"))
		id := strings.TrimPrefix(stream, "stream-id=")
		created, err := time.Parse(streamFormat, id)
		if err != nil || created.Before(before) {
			t.Errorf("%s: stream-id %q", m.Key, id)
		}
		if prev, ok := streams[hour]; ok && prev != id {
			t.Errorf("hour %s has stream-ids %s and %s", hour, prev, id)
		}
		streams[hour] = id
		if !regexpMatch(`^0000000[0-3]\.gz$`, file) {
			t.Errorf("%s: not a sequence number of its folder", m.Key)
		}
	}
	if len(streams) != 2 {
		t.Errorf("%d hour folders, want 2: %v", len(streams), streams)
	}
}

// TestZstd: --compress zstd makes .zst objects with Content-Encoding
// zstd that give the records back, smaller than the records.
func TestZstd(t *testing.T) {
	in := tagged(t, 2000)
	spool := t.TempDir()
	out, errs, code := run(t, in, "--spool", spool, "--compress", "zstd", "--keep-group-field", "--max-records", "5000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got []string
	var size int64
	for _, m := range manifests(t, out) {
		if !strings.HasSuffix(m.Key, ".zst") || m.ContentEncoding != "zstd" {
			t.Errorf("%s: encoding %q", m.Key, m.ContentEncoding)
		}
		got = append(got, contents(t, spool, m)...)
		size += m.Bytes
	}
	slices.Sort(got)
	want := strings.Split(strings.TrimSpace(string(in)), "\n")
	slices.Sort(want)
	if !slices.Equal(got, want) || size*4 > int64(len(in)) {
		t.Errorf("%d records back of %d, %d bytes for %d", len(got), len(want), size, len(in))
	}
	if _, errs, code := run(t, in, "--spool", t.TempDir(), "--compress", "zstd", "--level", "23"); code != 2 {
		t.Errorf("--level 23: exit %d: %s", code, errs)
	}
}

// TestParquetMaxBytes: a Parquet object, written on a goroutine of its
// own, ends by --max-bytes once a row group of it is out; every record
// is a row of one object.
func TestParquetMaxBytes(t *testing.T) {
	in := tagged(t, 30000)
	spool := t.TempDir()
	out, errs, code := run(t, in, "--spool", spool, "--format", "flows-parquet", "--group-by", "none", "--max-records", "1000000", "--max-bytes", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ms := manifests(t, out)
	rows := 0
	for _, m := range ms {
		f, err := os.Open(filepath.Join(spool, m.Path))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil || pf.NumRows() != int64(m.Records) {
			t.Fatalf("%s: %v, %d records", m.Key, err, m.Records)
		}
		rows += m.Records
		f.Close()
	}
	if len(ms) < 2 || rows != 30000 {
		t.Fatalf("%d objects, %d rows", len(ms), rows)
	}
}

// TestParquet: --format flows-parquet makes .parquet objects, pages
// compressed as --compress says and the object not (no Content-Encoding),
// with the manifest and metadata of any object; every record is a row.
// The AWS layout names them as AWS does.
func TestParquet(t *testing.T) {
	in := tagged(t, 3000)
	for _, codec := range []string{"gzip", "snappy", "zstd", "none"} {
		spool := t.TempDir()
		out, errs, code := run(t, in, "--spool", spool, "--format", "flows-parquet", "--compress", codec, "--max-records", "1000")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", codec, code, errs)
		}
		rows := 0
		for _, m := range manifests(t, out) {
			if !strings.HasSuffix(m.Key, ".parquet") || m.ContentEncoding != "" || m.ContentType != "application/vnd.apache.parquet" {
				t.Errorf("%s: %s, encoding %q, type %q", codec, m.Key, m.ContentEncoding, m.ContentType)
			}
			if m.Metadata["num-records"] != strconv.Itoa(m.Records) || m.FirstTimestamp == 0 || m.LastTimestamp < m.FirstTimestamp {
				t.Errorf("%s: manifest %+v", codec, m)
			}
			f, err := os.Open(filepath.Join(spool, m.Path))
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			pf, err := parquet.OpenFile(f, st.Size())
			if err != nil {
				t.Fatalf("%s: %s: %v", codec, m.Key, err)
			}
			if pf.NumRows() != int64(m.Records) || st.Size() != m.Bytes {
				t.Errorf("%s: %d rows, %d records; %d bytes, manifest %d", codec, pf.NumRows(), m.Records, st.Size(), m.Bytes)
			}
			rows += m.Records
			f.Close()
		}
		if rows != 3000 {
			t.Errorf("%s: %d rows", codec, rows)
		}
	}
	// --format parquet tells the kind by the first record; the AWS layouts
	// name the files as AWS's Parquet ones, Hive partitions included.
	out, errs, code := run(t, in, "--spool", t.TempDir(), "--format", "parquet", "--layout", "aws-hive", "--group-by", "none",
		"--var", "account=123456789012", "--var", "region=eu-west-1", "--var", "flowlog=fl-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	hive := regexp.MustCompile(`^AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=\d{4}/month=\d\d/day=\d\d/123456789012_vpcflowlogs_eu-west-1_fl-1_\d{8}T\d{4}Z_[0-9a-f]{8}\.log\.parquet$`)
	ms := manifests(t, out)
	for _, m := range ms {
		if !hive.MatchString(m.Key) {
			t.Errorf("key %s", m.Key)
		}
	}
	if len(ms) == 0 {
		t.Error("no object")
	}
	if _, errs, code := run(t, in, "--spool", t.TempDir(), "--format", "flows-parquet", "--compress", "lz5"); code != 2 || !strings.Contains(errs, "for Parquet pages") {
		t.Errorf("--compress lz5: exit %d: %s", code, errs)
	}
}

// TestInputCutShort: a run killed in the middle of reading a record
// leaves it cut short in the input journal. When the next run's input
// goes on with the rest (stdin a file read on from the same offset), the
// record is whole; when it does not (the pipe's writer died with the
// run), the cut record is bad input, alone, and the new first record is
// whole.
func TestInputCutShort(t *testing.T) {
	spool := t.TempDir()
	in := tagged(t, 20)
	lines := bytes.SplitAfter(in, []byte("\n"))
	if _, errs, code := run(t, bytes.Join(lines[:10], nil), "--spool", spool, "--max-records", "1000"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// As a kill leaves it: a record read, not handled, the next cut.
	cut := lines[11][:len(lines[11])/2]
	journal := append(append(make([]byte, headerSize), lines[10]...), cut...)
	if err := os.WriteFile(filepath.Join(spool, openDir, inputJournal), journal, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, bytes.Join(lines[12:], nil), "--spool", spool, "--max-records", "1000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "killed in the middle of a record whose rest did not follow") || !strings.Contains(errs, "bad 1") {
		t.Errorf("stderr: %s", errs)
	}
	var got []string
	for _, m := range manifests(t, out) {
		got = append(got, contents(t, spool, m)...)
	}
	for _, i := range []int{10, 12, 19} {
		if want := withoutTag(strings.TrimSpace(string(lines[i]))); !slices.Contains(got, want) {
			t.Errorf("record %d not stored", i)
		}
	}
	if len(got) != 9 {
		t.Errorf("%d records stored by the second run, want 9 (1 replayed, 8 new)", len(got))
	}

	// The rest follows: the record is whole, nothing is bad.
	spool = t.TempDir()
	run(t, lines[0], "--spool", spool)
	if err := os.WriteFile(filepath.Join(spool, openDir, inputJournal), journal, 0o644); err != nil {
		t.Fatal(err)
	}
	rest := append(bytes.Clone(lines[11][len(cut):]), bytes.Join(lines[12:], nil)...)
	out, errs, code = run(t, rest, "--spool", spool, "--max-records", "1000")
	if code != 0 || !strings.Contains(errs, "bad 0") || strings.Contains(errs, "killed in the middle") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got = got[:0]
	for _, m := range manifests(t, out) {
		got = append(got, contents(t, spool, m)...)
	}
	if want := withoutTag(strings.TrimSpace(string(lines[11]))); len(got) != 10 || !slices.Contains(got, want) {
		t.Errorf("%d records; the cut one whole: %v", len(got), slices.Contains(got, want))
	}
}

// TestSpoolDirsAreItsOwn: sky-batch refuses a spool whose open/, ready/
// or manifests/ is a link, and writes nothing through it; the spool
// itself may be a link. Each manifest names the spool, links resolved.
func TestSpoolDirsAreItsOwn(t *testing.T) {
	input := []byte(`{"UUID":"a","Tag":"x"}` + "\n")
	for _, sub := range []string{openDir, readyDir, manifestDir} {
		dir, elsewhere := t.TempDir(), t.TempDir()
		os.Symlink(elsewhere, filepath.Join(dir, sub))
		_, errs, code := run(t, input, "--spool", dir)
		if code != 1 || !strings.Contains(errs, sub+"/: not a directory of the spool's own") {
			t.Errorf("%s a link: exit %d: %s", sub, code, errs)
		}
		if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
			t.Errorf("%s a link: %d files written through it", sub, len(entries))
		}
	}
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "spool")
	os.Symlink(real, link)
	out, errs, code := run(t, input, "--spool", link)
	if code != 0 {
		t.Fatal(errs)
	}
	if ms := manifests(t, out); len(ms) != 1 || ms[0].Spool != real {
		t.Errorf("manifests %+v, want one of spool %s", ms, real)
	}
}

// TestCrowdedGroups: more groups than --max-open closes objects early,
// each with few records: sky-batch says so once, with the numbers and
// the flag to raise, counts it in its metrics, and stores every record
// once.
func TestCrowdedGroups(t *testing.T) {
	var in bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&in, `{"UUID":"u%d","Tag":"t%d"}`+"\n", i, i%20000)
	}
	dir := t.TempDir()
	metrics := filepath.Join(t.TempDir(), "m.prom")
	out, errs, code := run(t, in.Bytes(), "--spool", dir, "--max-open", "64", "--metrics-file", metrics)
	if code != 0 {
		t.Fatal(errs)
	}
	if n := strings.Count(errs, "closed early for want of an open slot"); n != 1 || !strings.Contains(errs, "the groups outnumber --max-open 64; raise --max-open") {
		t.Errorf("the notice %d times: %s", n, errs)
	}
	seen := map[string]bool{}
	for _, m := range manifests(t, out) {
		for _, line := range contents(t, dir, m) {
			var r struct{ UUID string }
			json.Unmarshal([]byte(line), &r)
			if seen[r.UUID] {
				t.Errorf("%s stored twice", r.UUID)
			}
			seen[r.UUID] = true
		}
	}
	if len(seen) != 20000 {
		t.Errorf("%d records stored, want 20000", len(seen))
	}
	data, _ := os.ReadFile(metrics)
	if !regexp.MustCompile(`skyflows_batch_objects_closed_early_total\{stage="sky-batch"\} [1-9]`).Match(data) {
		t.Errorf("no count of early closes in the metrics: %s", data)
	}
}

// TestPreparedOnWorkers: with several cores, records are read (and, for
// the Parquet formats of structs, decoded) on workers ahead of the
// owner; the objects, the bad lines and a first record of another kind
// come out as on one core, where each record is read as it is added.
func TestPreparedOnWorkers(t *testing.T) {
	in := tagged(t, 3000)
	lines := bytes.SplitAfter(in, []byte("\n"))
	bad := slices.Concat(lines[:1000], [][]byte{[]byte("{\"UUID\":\n"), []byte("{\"UUID\":5,\"Tag\":\"egress\"}\n")}, lines[1000:])
	run := func(procs int, input []byte, format string) (objects []string, errs string, code int) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		spool := t.TempDir()
		out, errs, code := run(t, input, "--spool", spool, "--format", format, "--max-records", "700", "-q")
		for _, m := range manifests(t, out) {
			objects = append(objects, fmt.Sprintf("%s %d %s", m.Group, m.Records, m.SHA256))
		}
		return objects, errs, code
	}
	for _, format := range []string{"ndjson", "flows-parquet"} {
		one, errs1, code1 := run(1, slices.Concat(bad...), format)
		two, errs2, code2 := run(2, slices.Concat(bad...), format)
		if code1 != 0 || code2 != 0 || !slices.Equal(one, two) || len(one) != 6 || errs1 != errs2 {
			t.Errorf("%s: one core (exit %d): %q %s; two (exit %d): %q %s", format, code1, one, errs1, code2, two, errs2)
		}
		if format == "flows-parquet" && !strings.Contains(errs1, "line 1002: decode:") {
			t.Errorf("%s: %s", format, errs1)
		}
	}
	// A first record of another kind stops the run; a first line that is
	// not JSON is only bad input.
	first := slices.Concat(bad[1001:]...)
	for procs := 1; procs <= 2; procs++ {
		if _, errs, code := run(procs, first, "flows-parquet"); code != 1 || !strings.Contains(errs, "the first record is not one --format flows-parquet takes") {
			t.Errorf("%d cores: exit %d: %s", procs, code, errs)
		}
		if objects, errs, code := run(procs, slices.Concat(slices.Concat(bad[1000:1001], lines[1000:])...), "flows-parquet"); code != 0 || len(objects) != 3 || !strings.Contains(errs, "line 1: decode:") {
			t.Errorf("%d cores: exit %d: %q %s", procs, code, objects, errs)
		}
	}
}

// TestDecodeInOnePass: a record that the format's decoder reads in one
// pass, handing its members to the batcher on the way, goes to the same
// group and time, with the same row, as one the batcher scans first and
// decodes after, the group field removed from the text (or kept): for
// each way of choosing the group and the time, and records whose group
// or time fields the row does not hold or that are of the wrong type.
func TestDecodeInOnePass(t *testing.T) {
	secadvisor, err := os.ReadFile("testdata/secadvisor.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]byte{
		"flows-parquet": slices.Concat(tagged(t, 100), []byte(`{"UUID":"a","Last":5,"end":1800000000,"Tag":"x"}
{"UUID":"b","end":"2027-01-02T03:04:05Z","Tag":7}
{"UUID":"c","Start":1800000000001,"Tag":"","extra":{"Tag":"y"}}
{"UUID":"d","Last":"soon"}
{"UUID":"e",
`)),
		"secadvisor-parquet": secadvisor,
	}
	for format, in := range inputs {
		for _, args := range [][]string{
			{}, {"--keep-group-field"}, {"--group-by", "UUID"}, {"--group-by", "extra"},
			{"--time-field", "Start", "--time-field", "Last"}, {"--time-field", "end", "--time-field", "Last"},
		} {
			b, err := open(testContext(t, append([]string{"--format", format, "--spool", filepath.Join(t.TempDir(), "s")}, args...)...), nil, io.Discard)
			if err != nil || b.decoder == nil {
				t.Fatalf("%s %q: %v", format, args, err)
			}
			s := &scan{} // reused, as reading reuses it
			for i, line := range bytes.Split(bytes.TrimSpace(in), []byte("\n")) {
				if diff := decodedAsScanned(b, s, line); diff != "" {
					t.Errorf("%s %q line %d: %s", format, args, i+1, diff)
				}
			}
		}
	}
}

// decodedAsScanned says how a record decoded in one pass (with s)
// differs from the record scanned first and decoded after; "" when it
// does not.
func decodedAsScanned(b *batcher, s *scan, line []byte) string {
	one, err1 := b.decode(line, s)
	two, err2 := b.prepare(line, &scan{})
	if err2 == nil {
		two.row, two.err = b.decoder(two.encoded, nil)
	}
	switch {
	case (err1 == nil) != (err2 == nil):
		return fmt.Sprintf("errors %v and %v", err1, err2)
	case err1 != nil:
	case (one.err == nil) != (two.err == nil) || !reflect.DeepEqual(one.row, two.row):
		return fmt.Sprintf("row %+v (%v); scanned first: %+v (%v)", one.row, one.err, two.row, two.err)
	case one.err != nil: // refused before its group and time count
	case one.group != two.group || max(one.ts-two.ts, two.ts-one.ts) > 1000:
		return fmt.Sprintf("group %q, time %d; scanned first: %q, %d", one.group, one.ts, two.group, two.ts)
	}
	return ""
}

// FuzzDecodeInOnePass: whatever the line, decoding it in one pass is as
// scanning it first, for both formats read so.
func FuzzDecodeInOnePass(f *testing.F) {
	for _, line := range bytes.Split(tagged(f, 3), []byte("\n")) {
		f.Add(line, false)
	}
	f.Add([]byte(`{"UUID":"a","Last":5,"end":1800000000,"Tag":"x","LogStatus":"OK"}`), true)
	f.Add([]byte(`{"Tag":7,"end":"2027-01-02T03:04:05Z"}`), true)
	batchers := map[bool]*batcher{}
	reused := map[bool]*scan{false: {}, true: {}} // from one input to the next, as reading reuses it
	for _, secadvisor := range []bool{false, true} {
		format := map[bool]string{false: "flows-parquet", true: "secadvisor-parquet"}[secadvisor]
		b, err := open(testContext(f, "--format", format, "--spool", filepath.Join(f.TempDir(), "s"), "--time-field", "end", "--time-field", "Last"), nil, io.Discard)
		if err != nil {
			f.Fatal(err)
		}
		batchers[secadvisor] = b
	}
	f.Fuzz(func(t *testing.T, line []byte, secadvisor bool) {
		if diff := decodedAsScanned(batchers[secadvisor], reused[secadvisor], line); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestParquetMemoryLimit: Go's soft memory limit is parquetBudget for
// each open Parquet object, none once they are finished or discarded,
// and a GOMEMLIMIT the user set stays.
func TestParquetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	s, err := openSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	pq := &codec{format: encode.Formats["flows-parquet"]}
	text := &codec{format: encode.Formats["ndjson"]}
	var objects []*object
	for i, c := range []*codec{pq, text, pq} {
		o, err := s.open(meta{ID: fmt.Sprint(i)}, c)
		if err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	if got := debug.SetMemoryLimit(-1); got != 2*parquetBudget {
		t.Errorf("two Parquet objects open: limit %d, want %d", got, 2*parquetBudget)
	}
	if _, err := s.finish(objects[:1], pq); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != parquetBudget {
		t.Errorf("one open: limit %d, want %d", got, parquetBudget)
	}
	s.discard(objects[1])
	s.discard(objects[2])
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("none open: limit %d, want none", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30)
	if o, err := s.open(meta{ID: "3"}, pq); err != nil {
		t.Fatal(err)
	} else if s.discard(o); debug.SetMemoryLimit(-1) != 1<<30 {
		t.Errorf("GOMEMLIMIT set: limit %d, want 1GiB", debug.SetMemoryLimit(-1))
	}
}

// TestDecodeAllocations: noting a record's time while it is decoded
// allocates nothing more than the decoder does (a group's value is a
// string of its own).
func TestDecodeAllocations(t *testing.T) {
	b, err := open(testContext(t, "--format", "flows-parquet", "--group-by", "none", "--spool", filepath.Join(t.TempDir(), "s")), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Split(tagged(t, 1), []byte("\n"))[0]
	s := &scan{}
	alone := testing.AllocsPerRun(100, func() { b.decoder(line, nil) })
	noting := testing.AllocsPerRun(100, func() { b.decode(line, s) })
	if noting > alone {
		t.Errorf("decode: %v allocations, the decoder alone %v", noting, alone)
	}
}

// TestClockTime: a record without a time field takes the clock's time
// when it is added; one with a time field keeps its own, in every format
// and however it is read.
func TestClockTime(t *testing.T) {
	in := []byte(`{"UUID":"a","Tag":"clock"}
{"UUID":"b","Tag":"field","Last":1800000000000}
`)
	for _, format := range []string{"ndjson", "flows-parquet"} {
		before := time.Now().UnixMilli()
		out, errs, code := run(t, in, "--spool", t.TempDir(), "--format", format)
		after := time.Now().UnixMilli()
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errs)
		}
		ms := manifests(t, out)
		if len(ms) != 2 {
			t.Fatalf("%s: %d objects, want 2", format, len(ms))
		}
		for _, m := range ms {
			switch {
			case m.Group == "clock" && (m.FirstTimestamp < before || m.LastTimestamp > after):
				t.Errorf("%s: clock record at %d..%d, run from %d to %d", format, m.FirstTimestamp, m.LastTimestamp, before, after)
			case m.Group == "field" && (m.FirstTimestamp != 1800000000000 || m.LastTimestamp != 1800000000000):
				t.Errorf("%s: record of Last 1800000000000 at %d..%d", format, m.FirstTimestamp, m.LastTimestamp)
			}
		}
	}
}

// TestTimestamp: a time field is epoch milliseconds, or seconds when
// small, as an integer or any JSON number, or an RFC 3339 string; the
// integers read in one pass give what strconv.ParseFloat gives.
func TestTimestamp(t *testing.T) {
	for _, c := range []struct {
		v    string
		k    jsonscan.Kind
		want int64
		ok   bool
	}{
		{"1800000000000", jsonscan.Number, 1800000000000, true},
		{"1800000000", jsonscan.Number, 1800000000000, true},
		{"1800000000.5", jsonscan.Number, 1800000000500, true},
		{"1.8e12", jsonscan.Number, 1800000000000, true},
		{"9007199254740993", jsonscan.Number, 9007199254740992, true}, // 2^53+1: float64, as ParseFloat reads it
		{"0", jsonscan.Number, 0, false},
		{"-5", jsonscan.Number, 0, false},
		{"1e400", jsonscan.Number, 0, false},
		{`"2027-01-02T03:04:05Z"`, jsonscan.String, 1798859045000, true},
		{`"soon"`, jsonscan.String, 0, false},
		{"true", jsonscan.Bool, 0, false},
	} {
		got, ok := timestamp([]byte(c.v), c.k)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("timestamp(%s) = %d, %v; want %d, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

// TestCrowdMemory: objects closed in one chunk of input, as many as its
// records when each is a group of its own past --max-open, wait for the
// commit without their compressors and buffers: 4 000 short records made
// 4 000 objects that held 1.4 MiB each until then (3.4 GiB allocated,
// most of it live at once; 63 MiB now): the gear of --max-open objects is
// all there is.
func TestCrowdMemory(t *testing.T) {
	var in bytes.Buffer
	for i := range 4000 {
		fmt.Fprintf(&in, "{\"Tag\":\"t%d\",\"n\":%d}\n", i, i)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, errs, code := run(t, in.Bytes(), "--spool", t.TempDir(), "--max-open", "8")
	runtime.ReadMemStats(&after)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := len(manifests(t, out)); n != 4000 {
		t.Errorf("%d objects, want 4000", n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("%d MiB allocated for 4 000 objects of one record, 8 open at a time", alloc>>20)
	}
}
