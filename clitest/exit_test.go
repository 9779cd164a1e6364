package clitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes: each kind of failure of each tool, as a user meets it,
// and its exit code: 2 for how the tool was called (flags, arguments,
// SKY_* values), 1 for everything else (input refused in strict mode, a
// file, a disk, a store, a write to stdout).
func TestExitCodes(t *testing.T) {
	prefix := installed(t)
	s3, _ := localS3(t)
	flows := filepath.Join(t.TempDir(), "flows.ndjson")
	os.WriteFile(flows, []byte(`{"UUID":"a","Network":{"A":"10.0.0.1","B":"1.1.1.1"},"Last":1795731701186}`+"\nnot json\n"), 0o644)
	spool := t.TempDir()
	for _, c := range []struct {
		line string // run by sh, in the tools' directory, with the local S3's settings
		code int
	}{
		{"sky-classify --no-such-flag", 2},
		{"sky-classify --cluster-net not-a-cidr < /dev/null", 2},
		{"SKY_MAX_LINE_BYTES=many sky-classify < /dev/null", 2},
		{"sky-classify --on-error bogus < /dev/null", 2},
		{"sky-classify --on-error fail < FLOWS", 1},
		{"sky-classify < FLOWS > /dev/full", 1},
		{"sky-classify extra-argument < /dev/null", 2},
		{"sky-filter 'Tag ==' < /dev/null", 2},
		{"sky-filter --on-error fail 'Tag == \"x\"' < FLOWS", 1},
		{"sky-transform --to yaml < /dev/null", 2},
		{"sky-transform --to awsflowlogs --enrich < /dev/null", 2},
		{"sky-transform --to awsflowlogs --aws-version 7 < /dev/null", 2},
		{"sky-transform --to vpclogs --local-ip nowhere < /dev/null", 2},
		{"sky-encode --format yaml < /dev/null", 2},
		{"sky-encode --format json --on-error fail < FLOWS", 1},
		{"sky-encode --format json < FLOWS > /dev/full", 1},
		{"sky-batch --spool SPOOL/a --format yaml < /dev/null", 2},
		{"sky-batch --spool SPOOL/b --level 12 < /dev/null", 2},
		{"sky-batch --spool SPOOL/c --parquet-bloom < /dev/null", 2},
		{"sky-batch --spool SPOOL/d --layout bogus < /dev/null", 2},
		{"sky-batch --spool SPOOL/e --key-template '{nothing}' < /dev/null", 2},
		{"sky-batch --spool /proc/no-spool < FLOWS", 1},
		{"sky-batch --spool SPOOL/f < FLOWS > /dev/full", 1},
		{"SKY_S3_BUCKET= sky-s3put < /dev/null", 2},
		{"sky-s3put --sse bogus < /dev/null", 2},
		{"sky-s3put --key k < FLOWS > /dev/full", 1},
		{"sky-s3put --key k --endpoint http://127.0.0.1:1 --max-retries 1 < FLOWS", 1},
		{"sky-s3put --spool FLOWS < /dev/null", 1},
		{"sky-flows --analyzer '://nowhere' --count 1", 2},
		{"sky-flows --replay /no/such/frames", 1},
		{"sky-prom --no-such-flag", 2},
		{"sky-nats", 2},
		{"sky-nats pull", 2},
		{"sky-nats publish --subject 'a b' < /dev/null", 2},
		{"sky-nats publish --window 0 < /dev/null", 2},
		{"sky-genflows extra-argument", 2},
		{"sky-genflows --repeat /no/such/recording", 1},
	} {
		line := strings.NewReplacer("FLOWS", flows, "SPOOL", spool).Replace(c.line)
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = append([]string{"PATH=" + filepath.Join(prefix, "bin") + ":/usr/bin:/bin", "HOME=" + t.TempDir()}, s3...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != c.code {
			t.Errorf("%s: exit %d, want %d: %s", c.line, code, c.code, out)
		}
	}
}
