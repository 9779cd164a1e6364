package s3put

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// No IBM account is reachable from here: iamStandIn speaks IAM's
// documented token protocol, and cosProxy stands for COS in front of the
// local versitygw, taking only the bearer tokens the stand-in issued.

const goodKey = "ibm-good-api-key-0123456789"

// iamStandIn is an IAM token endpoint: POST form grant_type and apikey;
// {access_token, refresh_token, token_type, expires_in, expiration}, or
// {errorCode, errorMessage} with 400 for a key it does not know.
type iamStandIn struct {
	*httptest.Server
	ttl    time.Duration
	mu     sync.Mutex
	issued map[string]time.Time // token: expiry
	n      int
}

func newIAM(t *testing.T, ttl time.Duration) *iamStandIn {
	s := &iamStandIn{ttl: ttl, issued: map[string]time.Time{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "urn:ibm:params:oauth:grant-type:apikey" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"errorCode":"BXNIM0109E","errorMessage":"Property missing or empty."}`)
			return
		}
		if r.PostForm.Get("apikey") != goodKey {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found."}`)
			return
		}
		s.mu.Lock()
		s.n++
		token := fmt.Sprintf("token-%d", s.n)
		expires := time.Now().Add(s.ttl)
		s.issued[token] = expires
		s.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": token, "refresh_token": "not-used", "token_type": "Bearer",
			"expires_in": int(s.ttl.Seconds()), "expiration": expires.Unix()})
	}))
	t.Cleanup(s.Close)
	return s
}

// valid tells whether token was issued and is not expired.
func (s *iamStandIn) valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.issued[token]
	return ok && time.Now().Before(exp)
}

func (s *iamStandIn) revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.issued, token)
}

func (s *iamStandIn) tokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// cosProxy accepts a request only with a bearer token the stand-in
// issued and unexpired, and forwards it to versitygw signed with its
// HMAC keys; before (if set) sees each request's token first.
func cosProxy(t *testing.T, iam *iamStandIn, before func(token string)) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var seen []string // every Authorization and body the proxy got
	target, _ := url.Parse(endpoint)
	signer := v4.NewSigner()
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"), string(body))
		mu.Unlock()
		if before != nil {
			before(token)
		}
		if !iam.valid(token) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		out, _ := http.NewRequest(r.Method, target.String()+r.URL.RequestURI(), bytes.NewReader(body))
		for k, v := range r.Header {
			if k != "Authorization" && k != "Ibm-Service-Instance-Id" {
				out.Header[k] = v
			}
		}
		out.ContentLength = r.ContentLength
		hash := r.Header.Get("X-Amz-Content-Sha256")
		if hash == "" {
			hash = "UNSIGNED-PAYLOAD"
			out.Header.Set("X-Amz-Content-Sha256", hash)
		}
		if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, out, hash, "s3", "us-east-1", time.Now()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p, &seen
}

// ibmPut runs sky-s3put through the proxy with an API key, no HMAC keys.
func ibmPut(t *testing.T, proxy, iam string, input []byte, args ...string) (string, string, int) {
	var out, errw bytes.Buffer
	base := []string{"sky-s3put", "--endpoint", proxy, "--path-style", "--region", "us-east-1", "--ibm-iam-endpoint", iam, "--max-backoff", "200ms"}
	code := Run(append(base, args...), bytes.NewReader(input), &out, &errw)
	return out.String(), errw.String(), code
}

// TestIBMAPIKey: objects stored with an API key alone; tokens that
// expire mid-run are renewed before they do, and none is refused.
func TestIBMAPIKey(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	name := bucket(t)
	iam := newIAM(t, 2*time.Second)
	slow := func(string) { time.Sleep(100 * time.Millisecond) } // a store far away: the run outlives a token
	proxy, seen := cosProxy(t, iam, slow)
	manifests, dir := spooled(t, 3000, "--max-records", "100")
	metrics := filepath.Join(t.TempDir(), "m.prom")
	out, errs, code := ibmPut(t, proxy.URL, iam.URL, manifests, "--bucket", name, "--spool", dir, "--concurrency", "1",
		"--ibm-api-key", goodKey, "--metrics-file", metrics)
	if code != 0 || strings.Contains(errs, "401") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := storedRecords(t, name); n != 3000 {
		t.Errorf("%d records stored, want 3000", n)
	}
	if iam.tokens() < 2 {
		t.Errorf("%d tokens over a run of 30 requests of 100 ms with tokens of 2 s: none renewed", iam.tokens())
	}
	spoolEmpty(t, dir)
	m, _ := os.ReadFile(metrics)
	if strings.Contains(out+errs+string(m), goodKey) || strings.Contains(strings.Join(*seen, ""), goodKey) {
		t.Error("the API key went out, or to the store")
	}
}

// TestIBMTokenRevoked: the store refuses a token (401) mid-run: a new
// one is asked for once and the request tried again; nothing fails.
func TestIBMTokenRevoked(t *testing.T) {
	name := bucket(t)
	iam := newIAM(t, time.Hour)
	var once sync.Once
	requests := 0
	var mu sync.Mutex
	revoke := func(token string) {
		mu.Lock()
		defer mu.Unlock()
		if requests++; requests == 5 {
			once.Do(func() { iam.revoke(token) })
		}
	}
	proxy, _ := cosProxy(t, iam, revoke)
	manifests, dir := spooled(t, 1000, "--max-records", "100")
	_, errs, code := ibmPut(t, proxy.URL, iam.URL, manifests, "--bucket", name, "--spool", dir, "--ibm-api-key", goodKey)
	if code != 0 || iam.tokens() != 2 {
		t.Fatalf("exit %d, %d tokens: %s", code, iam.tokens(), errs)
	}
	spoolEmpty(t, dir)
}

// TestIBMKeyRefused: a wrong key exits 1 at once, says IAM refused it,
// never prints it, and leaves every object in the spool.
func TestIBMKeyRefused(t *testing.T) {
	name := bucket(t)
	iam := newIAM(t, time.Hour)
	proxy, _ := cosProxy(t, iam, nil)
	manifests, dir := spooled(t, 500, "--max-records", "100")
	const wrong = "ibm-wrong-api-key-9876543210"
	start := time.Now()
	out, errs, code := ibmPut(t, proxy.URL, iam.URL, manifests, "--bucket", name, "--spool", dir, "--ibm-api-key", wrong)
	if code != 1 || !strings.Contains(errs, "IBM IAM refused the API key (HTTP 400 BXNIM0415E") || time.Since(start) > 10*time.Second {
		t.Errorf("exit %d after %s: %s", code, time.Since(start), errs)
	}
	if strings.Contains(out+errs, wrong) {
		t.Error("the API key was printed")
	}
	if n := len(stored(t, name)); n != 0 {
		t.Errorf("%d objects stored", n)
	}
	if left, _ := spoolObjects(dir); left != bytes.Count(manifests, []byte("\n")) {
		t.Errorf("%d objects left in the spool, want %d", left, bytes.Count(manifests, []byte("\n")))
	}
}

func spoolObjects(dir string) (int, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "ready"))
	return len(entries), err
}

// TestIBMIAMAway: IAM unreachable is an outage like the store's: tried
// again, then, past --max-retries, exit 1 with the objects kept.
func TestIBMIAMAway(t *testing.T) {
	name := bucket(t)
	iam := newIAM(t, time.Hour)
	proxy, _ := cosProxy(t, iam, nil)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	manifests, dir := spooled(t, 200, "--max-records", "100")
	_, errs, code := ibmPut(t, proxy.URL, gone.URL, manifests, "--bucket", name, "--spool", dir, "--ibm-api-key", goodKey, "--max-retries", "2")
	if code != 1 || !strings.Contains(errs, "IBM IAM unreachable") || !strings.Contains(errs, "attempt 2") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if left, _ := spoolObjects(dir); left != bytes.Count(manifests, []byte("\n")) {
		t.Errorf("%d objects left in the spool", left)
	}
}

// TestIBMNotIAM: an IAM endpoint that is not IAM's (a proxy's login page,
// a wrong path) exits 1 at once and says so, where it said that IAM
// refused the key; the page, which could echo the key, is not printed.
func TestIBMNotIAM(t *testing.T) {
	name := bucket(t)
	iam := newIAM(t, time.Hour)
	proxy, _ := cosProxy(t, iam, nil)
	for _, status := range []int{http.StatusOK, http.StatusNotFound} {
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html>sign in first: %s</html>", body)
		}))
		manifests, dir := spooled(t, 200, "--max-records", "100")
		start := time.Now()
		out, errs, code := ibmPut(t, proxy.URL, page.URL, manifests, "--bucket", name, "--spool", dir, "--ibm-api-key", goodKey)
		page.Close()
		want := fmt.Sprintf("IBM IAM endpoint %s answered HTTP %d \"text/html\" with neither a token nor an IAM error", page.URL, status)
		if code != 1 || !strings.Contains(errs, want) || time.Since(start) > 10*time.Second {
			t.Errorf("exit %d after %s: %s", code, time.Since(start), errs)
		}
		if strings.Contains(out+errs, goodKey) {
			t.Error("the API key was printed")
		}
		if left, _ := spoolObjects(dir); left != bytes.Count(manifests, []byte("\n")) {
			t.Errorf("%d objects left in the spool", left)
		}
	}
}
