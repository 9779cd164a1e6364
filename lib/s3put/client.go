// Package s3put is the sky-s3put command: it uploads the objects that
// sky-batch finished to S3-compatible storage and deletes them from the
// spool only once the store confirmed them.
package s3put

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// clientOptions say how to reach the store.
type clientOptions struct {
	endpoint, region, profile string
	accessKey, secretKey      string
	pathStyle, insecure       bool
	concurrency               int
	// iam, when set, signs with IBM IAM tokens in place of SigV4.
	iam      *iamTokens
	instance string // IBM COS service instance id, for bucket creation
}

// newClient makes an S3 client. Credentials come from the flags or, as in
// the AWS CLI, from the environment, the shared files and their profiles.
// Connections are tuned through the SDK's buildable client, which keeps
// working where AWS_CA_BUNDLE is set.
func newClient(ctx context.Context, o clientOptions) (*s3.Client, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(o.concurrency, 2)
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.ResponseHeaderTimeout = 2 * time.Minute
		if o.insecure {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true
		}
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient), config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} })}
	if o.region != "" {
		opts = append(opts, config.WithRegion(o.region))
	}
	if o.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.profile))
	}
	if o.accessKey != "" || o.secretKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.accessKey, o.secretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.endpoint != "" {
			so.BaseEndpoint = aws.String(o.endpoint)
		}
		so.UsePathStyle = o.pathStyle
		if o.iam != nil {
			o.iam.client = &http.Client{Transport: httpClient.GetTransport(), Timeout: time.Minute}
			so.Credentials = aws.AnonymousCredentials{}
			so.APIOptions = append(so.APIOptions, o.iam.bearer(o.instance))
		}
	}), nil
}

// permanent errors will not go away by trying again: bad credentials, a
// missing bucket, a refused request.
var permanentCodes = map[string]string{
	"AccessDenied":          "access denied",
	"InvalidAccessKeyId":    "the access key is not known to the store",
	"SignatureDoesNotMatch": "the secret key is wrong",
	"NoSuchBucket":          "the bucket does not exist",
	"InvalidBucketName":     "the bucket name is not valid",
	"InvalidArgument":       "the store refused an argument",
	"BadDigest":             "the object changed: its checksum does not match",
	"InvalidDigest":         "the object changed: its checksum does not match",
	"EntityTooLarge":        "the object is too large for one request",
}

// explain turns an SDK error into one plain line and says whether trying
// again may help: a refused connection, a timeout, a 5xx or throttling
// may pass; TLS failures, redirects to another region, refusals and
// missing buckets do not.
func explain(err error) (msg string, retry bool) {
	if msg, ok := tlsFailure(err); ok {
		return msg, false
	}
	var refused *iamRefused
	var away *iamAway
	var token *tokenRefused
	switch {
	case errors.As(err, &refused):
		return refused.Error(), false
	case errors.As(err, &away):
		return away.Error(), true
	case errors.As(err, &token):
		return token.Error(), token.again
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if plain, ok := permanentCodes[apiErr.ErrorCode()]; ok {
			return fmt.Sprintf("%s (%s)", plain, apiErr.ErrorCode()), false
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			code := re.HTTPStatusCode()
			if code >= 300 && code < 400 {
				return fmt.Sprintf("the store redirects elsewhere (%s, HTTP %d): the bucket is in another region or at another endpoint; give --region or --endpoint", apiErr.ErrorCode(), code), false
			}
			if code >= 400 && code < 500 && code != 408 && code != 429 {
				return fmt.Sprintf("%s: %s (HTTP %d)", apiErr.ErrorCode(), apiErr.ErrorMessage(), code), false
			}
		}
		return fmt.Sprintf("%s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage()), true
	}
	var netErr net.Error
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Sprintf("store unreachable: %v", opErr.Err), true
	}
	if errors.As(err, &netErr) {
		return fmt.Sprintf("store unreachable: %v", netErr), true
	}
	return err.Error(), true
}

// tlsFailure says what went wrong when TLS did: a certificate the client
// does not trust, for another name, expired, or no TLS at all on the
// other end.
func tlsFailure(err error) (string, bool) {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return "TLS: the store's certificate is signed by an authority this machine does not trust (AWS_CA_BUNDLE, or --insecure-skip-verify to not verify)", true
	case errors.As(err, &host):
		return fmt.Sprintf("TLS: the store's certificate is not for this host: %v", host), true
	case errors.As(err, &invalid):
		return fmt.Sprintf("TLS: the store's certificate is not valid: %v", invalid), true
	case errors.As(err, &verify):
		return fmt.Sprintf("TLS: the store's certificate was refused: %v", verify.Err), true
	case errors.As(err, &header), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http says the latter in words only.
		return "TLS: the store does not speak TLS on that port (an http:// endpoint?)", true
	}
	return "", false
}
