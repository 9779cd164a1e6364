package clitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skyflows/skyflows/lib/analyzertest"
	"github.com/skyflows/skyflows/lib/flowgen"
)

// The command lines of README.md and docs/*.md (their sh and cron blocks),
// run as written by a plain user, in document order, in one working
// directory, against test analyzers and the local S3 server. What stands
// for the user's own is substituted in one table (docSubstitutions); a
// line not run here says why (docsNotRun). A new line is run, or listed.

// docsNotRun are the lines run elsewhere, by their start.
var docsNotRun = map[string]string{
	"make demo":            ".ci/run runs it on a fresh clone",
	"make test":            "the command that runs this test",
	"make bench":           "measures; scripts/bench.sh is run by hand (docs/performance.md)",
	"make install":         "TestServiceShape runs make install PREFIX=DIR and the tools from there",
	"make build":           "make install and make test build the same",
	"make lint":            "make test runs it",
	"scripts/s3local.sh":   "every S3 test starts, reads and stops the local server with these commands",
	"scripts/natslocal.sh": "every NATS test starts and stops its cluster with these commands",
	"eval ":                "every S3 test reads scripts/s3local.sh env",
	"SKY_IBM_API_KEY=":     "lib/s3put's TestIBMAPIKey runs it against an IAM stand-in and a COS proxy (no IBM account here)",
}

// docSubstitutions are what a user has and the tests stand in for: the
// analyzers' addresses, the store, credentials, system paths. ANALYZER_*,
// S3, DIR and PREFIX are filled in when the test starts.
var docSubstitutions = [][2]string{
	{"ws://analyzer:8082", "ANALYZER_WS"},
	{"wss://analyzer:8082", "ANALYZER_WSS"},
	{"wss://a1:8443", "ANALYZER_A1"},
	{"wss://a2:8443", "ANALYZER_A2"},
	{"wss://vip1:8443", "ANALYZER_WSS"},
	{"wss://vip2:8443", "ANALYZER_WSS"},
	{"SKY_ANALYZER_PASSWORD=...", "SKY_ANALYZER_PASSWORD=pw"},
	{"https://s3.eu-de.cloud-object-storage.appdomain.cloud", "S3"},
	{"--bucket b ", "--bucket flows "},
	{"<hmac access key>", "ACCESS"},
	{"<hmac secret>", "SECRET"},
	{"/var/spool/skyflows", "DIR/var-spool"},
	{"/tmp/capture", "DIR/capture"},
	{"/tmp/p ", "DIR/profile "},
	{"/opt/skyflows", "PREFIX"},
	{"--for 5m", "--for 3s"},
	{"--region eu-west-1", "--region us-east-1"}, // the local server's
	{"--region eu-de", "--region us-east-1"},
	{"TID-OUTSIDE", "c725fde9-94b7-6d52-4690-a108335c5517"}, // capture points of the test's flows
	{"TID-INSIDE", "2be68c12-e2b3-fefa-6e64-2476474c6585"},
	{"--metrics-addr :9730", "--metrics-addr 127.0.0.1:0"},
	{" ... |", " |"},
	{"nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", "NATS"},
}

// docLine is a command line of the docs, where it is.
type docLine struct {
	where, text string
}

// docLines reads the sh and cron blocks of files, continuation lines
// joined, comments and cron times left out.
func docLines(t *testing.T, files ...string) []docLine {
	var lines []docLine
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		block, joined, start := "", "", 0
		for i, l := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(l, "```") && block == "":
				block = strings.TrimPrefix(l, "```") + " "
				continue
			case strings.HasPrefix(l, "```"):
				block = ""
				continue
			case block != "sh " && block != "cron ":
				continue
			}
			if joined == "" {
				start = i + 1
			}
			if strings.HasSuffix(l, "\\") {
				joined += strings.TrimSuffix(l, "\\")
				continue
			}
			text := strings.TrimSpace(stripComment(joined + l))
			joined = ""
			if text == "" {
				continue
			}
			if block == "cron " {
				text = strings.Join(strings.Fields(text)[5:], " ")
			}
			lines = append(lines, docLine{fmt.Sprintf("%s:%d", file, start), text})
		}
	}
	return lines
}

// stripComment cuts a shell line's comment: a # after a blank, outside
// quotes.
func stripComment(l string) string {
	quote := byte(0)
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

// docAnalyzers are the test analyzers the docs' lines reach, by the
// placeholder that names each.
type docAnalyzers map[string]*analyzertest.Server

// used are the analyzers a line reaches (after substitution): those it
// names, or the environment's SKY_ANALYZER when it runs live flows and
// names none.
func (a docAnalyzers) used(line string) []*analyzertest.Server {
	var used []*analyzertest.Server
	for _, s := range a {
		if strings.Contains(line, s.URL()) {
			used = append(used, s)
		}
	}
	live := regexp.MustCompile(`(^|[|;&]\s*)(\S+=\S+\s+)*(sky-flows|scripts/secadvisor|scripts/capture)\b`).MatchString(line) &&
		!strings.Contains(line, "--replay") && !strings.Contains(line, "SKY_REPLAY=") && !strings.Contains(line, "SKY_SOURCE=nats")
	if len(used) == 0 && live {
		used = append(used, a["ANALYZER_WS"])
	}
	return used
}

func TestDocumentedCommands(t *testing.T) {
	prefix := installed(t)
	s3, _ := localS3(t)
	natsURL, _ := natsCluster(t)
	dir := userDir(t)
	home := filepath.Join(dir, "home")
	tlsCfg, caPEM, err := analyzertest.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	analyzers := docAnalyzers{}
	for name, cfg := range map[string]analyzertest.Config{
		"ANALYZER_WS":  {},
		"ANALYZER_WSS": {TLS: tlsCfg},
		"ANALYZER_A1":  {TLS: tlsCfg, Username: "admin", Password: "pw"},
		"ANALYZER_A2":  {TLS: tlsCfg, Username: "admin", Password: "pw"},
	} {
		s, err := analyzertest.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		analyzers[name] = s
	}

	// The user's environment: the tools installed, the store in the
	// AWS config's profiles, the analyzer's CA trusted.
	env := []string{"PATH=" + filepath.Join(prefix, "bin") + ":/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8",
		"SKY_ANALYZER=" + analyzers["ANALYZER_WS"].URL(), "SKY_ANALYZER_CA_FILE=" + filepath.Join(dir, "ca.pem"),
		"SKY_ANALYZER_PASSWORD=pw", "SKY_RECORD=" + filepath.Join(dir, "live.frames"), "SKY_DRAIN_TIMEOUT=20s", "SKY_NATS_URL=" + natsURL}
	var access, secret, endpoint string
	for _, kv := range s3 {
		k, v, _ := strings.Cut(kv, "=")
		v = strings.Trim(v, `'"`)
		switch k {
		case "AWS_ACCESS_KEY_ID":
			access = v
		case "AWS_SECRET_ACCESS_KEY":
			secret = v
		case "SKY_S3_ENDPOINT":
			endpoint = v
			env = append(env, k+"="+v)
		default:
			if !strings.HasPrefix(k, "AWS_") {
				env = append(env, k+"="+v)
			}
		}
	}
	profiles := ""
	for _, p := range []string{"default", "exporter", "skyflows"} {
		profiles += fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", p, access, secret)
	}
	files := map[string][]byte{"ca.pem": caPEM, "home/.aws/credentials": []byte(profiles)}
	var flows bytes.Buffer
	flowgen.New(7).Write(&flows, 300)
	files["flows.ndjson"] = flows.Bytes()
	files["classified.ndjson"] = tool(t, prefix, flows.Bytes(), "sky-classify", "-q", "--cluster-net", "10.0.0.0/8")
	files["records.ndjson"] = tool(t, prefix, files["classified.ndjson"], "sky-transform", "-q", "--to", "secadvisor")
	files["aws.ndjson"] = tool(t, prefix, files["classified.ndjson"], "sky-transform", "-q", "--to", "awsflowlogs", "--aws-version", "5")
	files["vpc.ndjson"] = tool(t, prefix, files["classified.ndjson"], "sky-transform", "-q", "--to", "vpclogs")
	files["today.json.gz"] = tool(t, prefix, files["records.ndjson"], "gzip", "-c")
	files["capture.frames"] = tool(t, prefix, nil, "sky-genflows", "-n", "300", "--frames", "100")
	files["testdata/analyzer/frames-flow.ndjson"], _ = os.ReadFile("../testdata/analyzer/frames-flow.ndjson")
	for name, data := range files {
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-r", "../scripts", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if u := serviceUser(); u != nil {
		exec.Command("chown", "-R", fmt.Sprintf("%d:%d", u.Uid, u.Gid), dir).Run()
	}

	values := strings.NewReplacer("NATS", natsURL, "DIR", dir, "PREFIX", prefix, "S3", endpoint, "ACCESS", access, "SECRET", secret,
		"ANALYZER_WSS", analyzers["ANALYZER_WSS"].URL(), "ANALYZER_WS", analyzers["ANALYZER_WS"].URL(),
		"ANALYZER_A1", analyzers["ANALYZER_A1"].URL(), "ANALYZER_A2", analyzers["ANALYZER_A2"].URL())
	var pairs []string
	for _, s := range docSubstitutions {
		pairs = append(pairs, s[0], values.Replace(s[1]))
	}
	substitute := strings.NewReplacer(pairs...)
	// A capture's flows, for the line that follows one.
	capture := regexp.MustCompile(`"CaptureID":"[^"]*"`).ReplaceAll(flows.Bytes(), []byte(`"CaptureID":"64ea9ba8-7847-4f4a-9dc1-a48e3b10e3fc"`))

	lines := docLines(t, append([]string{"../README.md"}, must(filepath.Glob("../docs/*.md"))...)...)
	if len(lines) < 40 {
		t.Fatalf("%d command lines in the docs: the blocks were not read", len(lines))
	}
	ran := 0
	for _, l := range lines {
		if reason := notRun(l.text); reason != "" {
			t.Logf("%s: not run here (%s): %s", l.where, reason, l.text)
			continue
		}
		// "| ..." stands for the rest of a pipeline.
		line := strings.TrimSuffix(substitute.Replace(l.text), " | ...")
		ran++
		t.Run(l.where, func(t *testing.T) {
			runDocLine(t, line, dir, env, analyzers, capture, prefix, natsURL)
		})
	}
	t.Logf("%d of %d documented command lines run", ran, len(lines))
}

func notRun(line string) string {
	for start, reason := range docsNotRun {
		if strings.HasPrefix(line, start) {
			return reason
		}
	}
	return ""
}

// runDocLine runs one line in dir as the service user, feeds the
// analyzers it reaches flows, stops its sources once they recorded them
// (SIGTERM, as a user's ^C or a service stop), and wants exit 0.
func runDocLine(t *testing.T, line, dir string, env []string, analyzers docAnalyzers, capture []byte, prefix, natsURL string) {
	for _, s := range analyzers {
		waitUntil(t, "the last line's subscribers to go", func() bool { return s.Subscribers() == 0 })
	}
	stdin, err := os.Open(docInput(t, line, dir, env, prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	// Files, not pipes: a line's background process must not hold the
	// test's wait.
	stdout, stderr := &outFile{t: t}, &outFile{t: t}
	cmd := exec.Command("bash", "-c", "set -o pipefail; "+line)
	cmd.Dir, cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = dir, env, stdin, stdout.open(), stderr.open()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: serviceUser()}
	record := filepath.Join(dir, "live.frames")
	if m := regexp.MustCompile(`--record (\S+)`).FindStringSubmatch(line); m != nil {
		record = filepath.Join(dir, m[1])
	}
	before := frames(record)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if used := analyzers.used(line); len(used) > 0 {
		n := 300
		count := regexp.MustCompile(`sky-flows[^|]* (-c|--count) (\d+)`).FindStringSubmatch(line)
		if count != nil {
			n, _ = strconv.Atoi(count[2])
		}
		for _, s := range used {
			// Flows go to the flow subscribers there are: sky-flows must
			// be one (a topology subscriber may come first).
			waitUntil(t, "sky-flows to subscribe", func() bool { return s.FlowSubscribers() >= 1 })
			for i := 0; i < n; i += 300 {
				s.Publish(bytes.Split(bytes.TrimSpace(capture), []byte("\n"))[:min(300, n-i)]...)
			}
			s.Flush()
		}
		// Every frame sent is recorded: then the sources may stop.
		want := before + len(used)*((n+99)/100)
		for end := time.Now().Add(30 * time.Second); frames(record) < want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%d frames recorded in %s, want %d: %s", frames(record)-before, record, want-before, stderr)
			}
		}
		if count == nil && !regexp.MustCompile(`sky-flows[^|]* --for `).MatchString(line) {
			for _, pid := range groupMembers(cmd.Process.Pid, "sky-flows") {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	}
	// A line that consumes from JetStream is stopped once its sky-nats
	// consume pulls and its durable has every message acknowledged.
	if strings.Contains(line, "sky-nats consume") || strings.Contains(line, "SKY_SOURCE=nats") {
		durable := "store"
		if m := regexp.MustCompile(`(--durable |SKY_NATS_DURABLE=)(\S+)`).FindStringSubmatch(line); m != nil {
			durable = m[2]
		}
		waitUntil(t, "consumer "+durable+" to have nothing pending", func() bool { return consumed(natsURL, durable) })
		for _, pid := range groupMembers(cmd.Process.Pid, "sky-nats") {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("still running after 60 s: %s", stderr)
	}
	if err != nil {
		t.Fatalf("%s: %v\nstderr: %s", line, err, stderr)
	}
	// Where a line prints records, some came through.
	last := strings.TrimSpace(line[strings.LastIndex(line, "|")+1:])
	sink := strings.ContainsAny(last, ">&") || strings.HasPrefix(line, "export ") ||
		strings.Contains(last, "sky-s3put") || strings.HasPrefix(last, "sky-prom") && !strings.Contains(last, " -p") ||
		strings.HasPrefix(last, "sky-nats publish") || strings.Contains(last, "scripts/capture")
	if !sink && stdout.String() == "" {
		t.Errorf("%s: nothing on stdout\nstderr: %s", line, stderr)
	}
}

// outFile is a command's output kept in a file.
type outFile struct {
	t    *testing.T
	path string
}

func (o *outFile) open() *os.File {
	f, err := os.CreateTemp(o.t.TempDir(), "out")
	if err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() { f.Close() })
	o.path = f.Name()
	return f
}

func (o *outFile) String() string {
	data, _ := os.ReadFile(o.path)
	return string(data)
}

// consumed tells whether the durable consumer of stream FLOWS is pulled
// from (the line's sky-nats consume runs) and has every message
// delivered and acknowledged.
func consumed(url, durable string) bool {
	nc, err := nats.Connect(url)
	if err != nil {
		return false
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, "FLOWS", durable)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumWaiting > 0 && info.NumPending == 0 && info.NumAckPending == 0
}

// docInput is the standard input a line gets unless it redirects it:
// records of the kind its first tool reads; for sky-s3put, the manifests
// of a spool sky-batch made.
func docInput(t *testing.T, line, dir string, env []string, prefix string) string {
	first := regexp.MustCompile(`^(\S+=\S+\s+)*(\S+)`).FindStringSubmatch(line)[2]
	switch {
	case first == "sky-classify" || first == "sky-filter" || first == "sky-prom" || first == "sky-transform":
		return filepath.Join(dir, "classified.ndjson")
	case first == "sky-encode":
		return filepath.Join(dir, "records.ndjson")
	case first == "sky-batch" && strings.Contains(line, "awsflowlogs"):
		return filepath.Join(dir, "aws.ndjson")
	case first == "sky-batch" && strings.Contains(line, "vpclogs"):
		return filepath.Join(dir, "vpc.ndjson")
	case first == "sky-batch":
		return filepath.Join(dir, "records.ndjson")
	case first == "sky-s3put":
		cmd := exec.Command("bash", "-c", `sky-batch -q --spool "$1" --max-records 100 < records.ndjson > "$1.manifests"`, "-", filepath.Join(dir, "s3put-spool"))
		cmd.Dir, cmd.Env = dir, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: serviceUser()}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sky-batch for sky-s3put's input: %v: %s", err, out)
		}
		return filepath.Join(dir, "s3put-spool.manifests")
	}
	return os.DevNull
}

// frames counts the frames recorded in file.
func frames(file string) int {
	data, _ := os.ReadFile(file)
	return bytes.Count(data, []byte("\n"))
}

// groupMembers are the processes named name in the process group pgid.
func groupMembers(pgid int, name string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && strings.TrimSpace(string(comm)) == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tool runs an installed tool (or any command) on input and returns its
// output.
func tool(t *testing.T, prefix string, input []byte, name string, args ...string) []byte {
	t.Helper()
	path := filepath.Join(prefix, "bin", name)
	if _, err := os.Stat(path); err != nil {
		path = name
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDocsDefaults: a default the docs give as "`--flag` (VALUE)" is the
// default --help gives for that flag, in a tool that has it.
func TestDocsDefaults(t *testing.T) {
	helpDefault := regexp.MustCompile(`^\s+--([a-z0-9-]+)\b.*\(default: ([^)]*)\)`)
	defaults := map[string][]string{} // flag: each tool's default
	for _, help := range helps(t) {
		for _, l := range strings.Split(help, "\n") {
			if m := helpDefault.FindStringSubmatch(l); m != nil {
				defaults[m[1]] = append(defaults[m[1]], strings.Trim(m[2], `"`))
			}
		}
	}
	docDefault := regexp.MustCompile("`--([a-z0-9-]+)` \\((\\d[\\d ]*(?:\\.\\d+)? ?[a-zA-Z]*|`[^`]+`)\\)")
	checked := 0
	for _, file := range append([]string{"../README.md"}, must(filepath.Glob("../docs/*.md"))...) {
		data, _ := os.ReadFile(file)
		for _, m := range docDefault.FindAllStringSubmatch(string(data), -1) {
			checked++
			if !slices.ContainsFunc(defaults[m[1]], func(d string) bool { return sameDefault(m[2], d) }) {
				t.Errorf("%s: --%s (%s); --help: %q", file, m[1], m[2], defaults[m[1]])
			}
		}
	}
	if checked < 10 {
		t.Errorf("%d defaults found in the docs: the pattern no longer reads them", checked)
	}
}

// sameDefault compares a default as the docs write it ("30 s", "10 000",
// "16 MiB", `Tag`) with --help's.
func sameDefault(doc, help string) bool {
	doc = strings.Trim(doc, "`")
	compact := strings.ReplaceAll(doc, " ", "")
	if compact == help {
		return true
	}
	if d, err := time.ParseDuration(compact); err == nil {
		h, err := time.ParseDuration(help)
		return err == nil && d == h
	}
	for unit, size := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(compact, unit); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return err == nil && strconv.FormatInt(v*size, 10) == help
		}
	}
	return false
}

// helps are the --help of every installed tool and sky-nats command, by
// command line ("sky-batch", "sky-nats publish").
func helps(t *testing.T) map[string]string {
	t.Helper()
	prefix := installed(t)
	tools, _ := filepath.Glob(filepath.Join(prefix, "bin", "sky-*"))
	lines := [][]string{{"sky-nats", "publish"}, {"sky-nats", "consume"}}
	for _, tool := range tools {
		lines = append(lines, []string{filepath.Base(tool)})
	}
	out := map[string]string{}
	for _, line := range lines {
		help, err := exec.Command(filepath.Join(prefix, "bin", line[0]), append(line[1:], "--help")...).Output()
		if err != nil {
			t.Fatalf("%s --help: %v", strings.Join(line, " "), err)
		}
		out[strings.Join(line, " ")] = string(help)
	}
	return out
}

// TestEveryFlagHasAVariable: as README says, every flag of a pipeline's
// tools has a SKY_* variable, but --help, --version and sky-s3put's
// one-shot flags; the test tools (sky-genflows, sky-analyzer-sim) have
// flags alone.
func TestEveryFlagHasAVariable(t *testing.T) {
	oneShot := map[string]bool{"help": true, "version": true, "check": true, "key": true, "content-type": true, "create-bucket": true}
	flag := regexp.MustCompile(`^\s+--([a-z0-9-]+)`)
	all := helps(t)
	for _, tool := range []string{"sky-flows", "sky-classify", "sky-filter", "sky-transform", "sky-batch", "sky-s3put",
		"sky-encode", "sky-prom", "sky-nats publish", "sky-nats consume"} {
		flags := 0
		for _, l := range strings.Split(all[tool], "\n") {
			m := flag.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			flags++
			if !strings.Contains(l, "[$SKY_") && !oneShot[m[1]] {
				t.Errorf("%s --%s has no SKY_* variable", tool, m[1])
			}
		}
		if flags < 3 {
			t.Errorf("%s --help: %d flags read: the pattern no longer reads them", tool, flags)
		}
	}
}
