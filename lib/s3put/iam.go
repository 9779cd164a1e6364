package s3put

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// DefaultIAMEndpoint is IBM Cloud's IAM token endpoint.
const DefaultIAMEndpoint = "https://iam.cloud.ibm.com/identity/token"

// iamTokens exchanges an IBM Cloud API key for IAM access tokens, as the
// IBM COS SDK's ibmiam credentials do, and keeps the current one until
// shortly before it expires.
type iamTokens struct {
	key, endpoint string
	client        *http.Client
	mu            sync.Mutex
	token         string
	renew         time.Time // a tenth of its life before it expires
	// suspect: the current token replaced one the store refused; if it is
	// refused too, the key has no access. suspectNext: the next one will.
	suspect, suspectNext bool
}

// iamRefused is IAM refusing the API key, or an endpoint that is not
// IAM's: no retry mends it.
type iamRefused struct{ msg string }

func (e *iamRefused) Error() string { return e.msg }

// iamAway is IAM unreachable or failing (5xx): tried again, as the store.
type iamAway struct{ err error }

func (e *iamAway) Error() string { return "IBM IAM unreachable: " + e.err.Error() }

func (e *iamAway) Unwrap() error { return e.err }

// tokenRefused is the store refusing a token IAM gave (401): the token is
// dropped and the request tried again once with a new one.
type tokenRefused struct{ again bool }

func (e *tokenRefused) Error() string {
	if e.again {
		return "the store refused the IAM token (HTTP 401): asking IAM for a new one"
	}
	return "the store refused a new IAM token too (HTTP 401): the API key has no access to the bucket"
}

// get gives a valid token, asking IAM for one when there is none or a
// tenth of its life is left.
func (t *iamTokens) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && time.Now().Before(t.renew) {
		return t.token, nil
	}
	form := url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {t.key}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &iamRefused{fmt.Sprintf("IBM IAM endpoint %q: %v", t.endpoint, err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		// The key is in the request's body, never in its URL or the error.
		return "", &iamAway{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &iamAway{err}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == 429 {
		return "", &iamAway{fmt.Errorf("HTTP %d", resp.StatusCode)}
	}
	var r struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int64  `json:"expires_in"`
		Expiration   int64  `json:"expiration"`
		ErrorCode    string `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
	}
	json.Unmarshal(body, &r) // what is not IAM's JSON leaves r empty
	switch {
	case resp.StatusCode == http.StatusOK && r.AccessToken != "":
	case r.ErrorCode != "" || r.ErrorMessage != "":
		return "", &iamRefused{fmt.Sprintf("IBM IAM refused the API key (HTTP %d %s: %s)", resp.StatusCode, r.ErrorCode, r.ErrorMessage)}
	default:
		// Not the body, which an endpoint that echoes would fill with the key.
		return "", &iamRefused{fmt.Sprintf("IBM IAM endpoint %s answered HTTP %d %q with neither a token nor an IAM error: is it IAM's token URL (--ibm-iam-endpoint)?",
			req.URL.Redacted(), resp.StatusCode, resp.Header.Get("Content-Type"))}
	}
	now := time.Now()
	expires := now.Add(time.Duration(r.ExpiresIn) * time.Second)
	if r.Expiration > 0 {
		expires = time.Unix(r.Expiration, 0)
	}
	t.token, t.renew = r.AccessToken, expires.Add(-expires.Sub(now)/10)
	t.suspect, t.suspectNext = t.suspectNext, false
	return t.token, nil
}

// refused drops a token the store refused; it says whether to try again
// with a new one: not when the refused one was itself new after a
// refusal.
func (t *iamTokens) refused(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case token != t.token: // an older one, already replaced
		return true
	case t.suspect:
		return false
	}
	t.token, t.suspectNext = "", true
	return true
}

// accepted clears the doubt on a token the store took.
func (t *iamTokens) accepted(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if token == t.token {
		t.suspect = false
	}
}

// bearer signs each request with an IAM token in place of SigV4 (the
// client's credentials are anonymous), and the service instance id when
// given, which bucket creation needs.
func (t *iamTokens) bearer(instance string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("IBMIAMBearer",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				req, ok := in.Request.(*smithyhttp.Request)
				if !ok {
					return next.HandleFinalize(ctx, in)
				}
				token, err := t.get(ctx)
				if err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, err
				}
				req.Header.Set("Authorization", "Bearer "+token)
				if instance != "" {
					req.Header.Set("ibm-service-instance-id", instance)
				}
				out, md, err := next.HandleFinalize(ctx, in)
				var re *awshttp.ResponseError
				switch {
				case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusUnauthorized:
					err = &tokenRefused{again: t.refused(token)}
				case err == nil:
					t.accepted(token)
				}
				return out, md, err
			}), middleware.After)
	}
}
