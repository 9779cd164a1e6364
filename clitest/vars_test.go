package clitest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sameMeaning are the variables that tools read with a flag of their own
// words for one and the same thing.
var sameMeaning = map[string]string{
	"SKY_ANALYZER":       "the analyzers' addresses: sky-flows follows their flows, sky-classify and sky-transform their topology",
	"SKY_TAG_FIELD":      "the field that holds the tag: sky-classify writes it, sky-filter reads it",
	"SKY_SPOOL":          "sky-batch's spool: sky-batch writes it, sky-s3put uploads from it",
	"SKY_DRAIN_TIMEOUT":  "how long a stage drains after a stop signal: sky-flows its buffer, the others their input",
	"SKY_STATS_INTERVAL": "how often a stage prints its stats line",
	"SKY_DEAD_LETTER":    "the file that keeps rejected input verbatim: frames for sky-flows, lines for the others",
}

// TestOneVariableOneMeaning: every SKY_* variable belongs to one flag of
// one tool, or to flags of the same name and help in each tool that reads
// it (the shared flags), or is listed in sameMeaning; so setting one for
// a pipeline never changes two things.
func TestOneVariableOneMeaning(t *testing.T) {
	type use struct{ tool, flag, help string }
	uses := map[string][]use{}
	flagLine := regexp.MustCompile(`^\s+--([a-z0-9-]+).*?\s{2,}(\S.*?) \[(\$[A-Z0-9_, $]+)\]$`)
	helps := map[string][]string{"sky-nats publish": {"sky-nats", "publish", "--help"}, "sky-nats consume": {"sky-nats", "consume", "--help"}}
	for name := range stages {
		if name != "sky-nats" {
			helps[name] = []string{name, "--help"}
		}
	}
	for name, args := range helps {
		out, err := os.Create(filepath.Join(t.TempDir(), "help"))
		if err != nil {
			t.Fatal(err)
		}
		if code := stages[args[0]](args, os.Stdin, out, out); code != 0 {
			t.Fatalf("%s --help: exit %d", name, code)
		}
		out.Close()
		help, _ := os.ReadFile(out.Name())
		for _, line := range strings.Split(string(help), "\n") {
			m := flagLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			text := regexp.MustCompile(` \(default: [^)]*\)`).ReplaceAllString(m[2], "")
			for _, v := range strings.Split(m[3], ", ") {
				uses[strings.TrimPrefix(v, "$")] = append(uses[strings.TrimPrefix(v, "$")], use{name, m[1], text})
			}
		}
	}
	if len(uses["SKY_SPOOL"]) != 2 || len(uses["SKY_S3_BUCKET"]) != 1 {
		t.Fatalf("the help was not read: %v", uses)
	}
	for v, us := range uses {
		if !strings.HasPrefix(v, "SKY_") || sameMeaning[v] != "" {
			continue
		}
		slices.SortFunc(us, func(a, b use) int { return strings.Compare(a.tool, b.tool) })
		for _, u := range us[1:] {
			if u.flag != us[0].flag || u.help != us[0].help {
				t.Errorf("%s means two things: %s --%s (%s) and %s --%s (%s)", v, us[0].tool, us[0].flag, us[0].help, u.tool, u.flag, u.help)
				break
			}
		}
	}
}
