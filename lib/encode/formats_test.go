package encode

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// transformed runs the sequence of lib/transform's tests through
// sky-transform's records as recorded in its golden files.
func records(t *testing.T, golden string) []byte {
	t.Helper()
	data, err := os.ReadFile("../transform/testdata/" + golden + ".golden")
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ = bytes.Cut(data, []byte("-- stderr --\n"))
	return data
}

func TestRecordFormats(t *testing.T) {
	cases := []struct {
		name, input string
		args        []string
	}{
		{"awsflowlogs-v2-text", "awsflowlogs-v2", []string{"--format", "awsflowlogs"}},
		{"awsflowlogs-v5-text", "awsflowlogs-v5", []string{"--format", "awsflowlogs"}},
		{"awsflowlogs-v3-csv", "awsflowlogs-v3", []string{"--format", "awsflowlogs-csv"}},
		{"vpclogs-object", "vpclogs", []string{"--format", "vpclogs", "--header", "collector_crn=crn:v1:bluemix:public:is:us-south:a/123::flow-log-collector:r006-1", "--header", "attached_endpoint_type=vnic"}},
	}
	for _, c := range cases {
		var out, errw bytes.Buffer
		if code := Run(append([]string{"sky-encode", "-q"}, c.args...), bytes.NewReader(records(t, c.input)), &out, &errw); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, errw.String())
		}
		golden(t, c.name, out.Bytes())
	}
}

func TestVPCLogsObjectIsJSON(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed")
	}
	var out bytes.Buffer
	Run([]string{"sky-encode", "-q", "-f", "vpclogs"}, bytes.NewReader(records(t, "vpclogs")), &out, &out)
	cmd := exec.Command("jq", "-e", ".number_of_flow_logs == (.flow_logs | length) and .capture_start_time == \"2027-01-15T08:00:00Z\" and .capture_end_time == \"2027-01-15T08:02:05Z\"")
	cmd.Stdin = &out
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("jq: %v: %s", err, res)
	}
}

func TestMixedAWSVersions(t *testing.T) {
	in := append(records(t, "awsflowlogs-v2"), records(t, "awsflowlogs-v3")...)
	var out, errw bytes.Buffer
	Run([]string{"sky-encode", "-f", "awsflowlogs"}, bytes.NewReader(in), &out, &errw)
	if !bytes.Contains(errw.Bytes(), []byte("line 15: version 3 record among version 2 ones")) {
		t.Errorf("stderr: %s", errw.String())
	}
}
