package topology

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/skyflows/skyflows/lib/analyzer"
)

// QueryPath is the analyzer's Gremlin query endpoint.
const QueryPath = "/api/topology"

// Querier asks the analyzer Gremlin queries (POST /api/topology) and
// keeps each answer for a while. Every query is bounded by a timeout,
// and after a failure queries pause, so that an analyzer away costs the
// stream at most one timeout per pause.
type Querier struct {
	url        string
	user, pass string
	client     *http.Client
	ttl, pause time.Duration
	max        int // answers kept

	mu       sync.Mutex
	cache    map[string]answer
	failedAt time.Time
}

type answer struct {
	value string
	at    time.Time
}

// NewQuerier returns a querier for the analyzer at u.
func NewQuerier(u *url.URL, o analyzer.Options, timeout, ttl time.Duration) *Querier {
	t, user, pass := analyzer.Credentials(u, o)
	switch t.Scheme {
	case "ws":
		t.Scheme = "http"
	case "wss":
		t.Scheme = "https"
	}
	t.Path = QueryPath
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = o.TLS
	return &Querier{url: t.String(), user: user, pass: pass, ttl: ttl, pause: 5 * time.Second, max: 10000,
		client: &http.Client{Timeout: timeout, Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		cache: map[string]answer{}}
}

// First is the first value of the query's answer as text ("" when the
// answer is empty or null): a string as it is, anything else as JSON.
// ok is false when the analyzer did not answer.
func (q *Querier) First(ctx context.Context, query string) (value string, ok bool) {
	now := time.Now()
	q.mu.Lock()
	if a, hit := q.cache[query]; hit && now.Sub(a.at) < q.ttl {
		q.mu.Unlock()
		return a.value, true
	}
	paused := now.Sub(q.failedAt) < q.pause
	q.mu.Unlock()
	if paused {
		return "", false
	}
	v, err := q.ask(ctx, query)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		q.failedAt = time.Now()
		return "", false
	}
	if len(q.cache) >= q.max {
		clear(q.cache)
	}
	q.cache[query] = answer{v, now}
	return v, true
}

func (q *Querier) ask(ctx context.Context, query string) (string, error) {
	body, _ := json.Marshal(struct{ GremlinQuery string }{query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if q.user != "" {
		req.SetBasicAuth(q.user, q.pass)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s: %.200s", resp.Status, data)
	}
	return first(data), nil
}

// first is the first element of a JSON list, or the value itself.
func first(data []byte) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	if list, ok := v.([]any); ok {
		if len(list) == 0 {
			return ""
		}
		v = list[0]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}
