package s3put

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// object is what to store: where, with which headers.
type object struct {
	key             string
	md5             string // base64, as the manifest says; checked before upload
	sha256          string // hex, as the manifest says; stored as metadata
	contentType     string
	contentEncoding string
	metadata        map[string]string
}

// errCorrupt: a spooled object is not what its manifest says.
var errCorrupt = errors.New("the spooled object does not match its manifest's MD5: left in the spool")

// errExists: the key is taken (412 to If-None-Match: *).
var errExists = errors.New("the key exists")

// errConflict: the key is taken by other content.
var errConflict = errors.New("the key exists in the bucket with other content: never overwritten; left in the spool")

// shaKey is the metadata that holds an object's SHA-256, to tell on a
// taken key whether the object there is this one.
const shaKey = "sha256"

// meta is the object's metadata with its SHA-256.
func (o object) meta() map[string]string {
	if o.sha256 == "" {
		return o.metadata
	}
	m := make(map[string]string, len(o.metadata)+1)
	for k, v := range o.metadata {
		m[k] = v
	}
	m[shaKey] = o.sha256
	return m
}

// taken turns the store's refusal of a conditional write into errExists.
func taken(err error) error {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed {
		return errExists
	}
	return err
}

// sameObject tells whether the object at o's key is o: the same SHA-256
// in its metadata, or, without it, an ETag that is o's MD5. It returns
// the object's ETag, or errConflict.
func sameObject(ctx context.Context, c *s3.Client, so storeOptions, o object) (string, error) {
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(so.bucket), Key: aws.String(o.key)})
	if err != nil {
		return "", err
	}
	etag := strings.Trim(aws.ToString(head.ETag), `"`)
	sum, _ := base64.StdEncoding.DecodeString(o.md5)
	if sha, ok := head.Metadata[shaKey]; ok && sha == o.sha256 || !ok && etag == hex.EncodeToString(sum) && o.md5 != "" {
		return etag, nil
	}
	return "", errConflict
}

// storeOptions apply to every object.
type storeOptions struct {
	bucket       string
	sse          string
	kmsKeyID     string
	storageClass string
	partSize     int64 // also the size above which multipart is used
}

// put stores what r holds, in one request when it fits in a part, in a
// multipart upload otherwise; never over an object already there (the
// write is conditional: If-None-Match: *, errExists when the key is
// taken); every request carries its Content-MD5, which the store checks,
// and a single request's ETag is checked against it.
// Memory is one part at most, whatever the size; size, when not negative,
// is what r is expected to hold, so that a small object takes no more.
func put(ctx context.Context, c *s3.Client, so storeOptions, o object, r io.Reader, size int64) (etag string, n int64, err error) {
	buf, err := readPart(r, so.partSize, size)
	if err != nil {
		return "", 0, err
	}
	first := len(buf)
	if int64(first) < so.partSize {
		sum := md5.Sum(buf[:first])
		if o.md5 != "" && o.md5 != base64.StdEncoding.EncodeToString(sum[:]) {
			return "", 0, errCorrupt
		}
		in := &s3.PutObjectInput{
			Bucket: aws.String(so.bucket), Key: aws.String(o.key), Body: bytes.NewReader(buf[:first]),
			ContentLength: aws.Int64(int64(first)), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
			Metadata: o.meta(), IfNoneMatch: aws.String("*"),
		}
		so.headers(o, &in.ContentType, &in.ContentEncoding, &in.ServerSideEncryption, &in.SSEKMSKeyId, &in.StorageClass)
		out, err := c.PutObject(ctx, in)
		if err != nil {
			return "", 0, taken(err)
		}
		etag = strings.Trim(aws.ToString(out.ETag), `"`)
		if so.sse != "aws:kms" && etag != hex.EncodeToString(sum[:]) {
			return "", 0, fmt.Errorf("the store's ETag %s is not the object's MD5 %x", etag, sum)
		}
		return etag, int64(first), nil
	}
	return multipart(ctx, c, so, o, buf, first, r)
}

// readPart reads from r up to limit bytes; hint, when not negative, is the
// size r is expected to hold.
func readPart(r io.Reader, limit, hint int64) ([]byte, error) {
	size := limit
	if hint >= 0 && hint < limit {
		size = hint + 1 // a byte more tells that r holds more than hinted
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return buf[:n], nil
	}
	if err != nil || size == limit {
		return buf, err
	}
	grown := make([]byte, limit)
	copy(grown, buf)
	m, err := io.ReadFull(r, grown[n:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return grown[:n+m], err
}

func (so storeOptions) headers(o object, ct, ce **string, sse *types.ServerSideEncryption, kms **string, class *types.StorageClass) {
	if o.contentType != "" {
		*ct = aws.String(o.contentType)
	}
	if o.contentEncoding != "" {
		*ce = aws.String(o.contentEncoding)
	}
	if so.sse != "" {
		*sse = types.ServerSideEncryption(so.sse)
	}
	if so.kmsKeyID != "" {
		*kms = aws.String(so.kmsKeyID)
	}
	if so.storageClass != "" {
		*class = types.StorageClass(so.storageClass)
	}
}

// multipart uploads in parts of partSize, the first already in buf.
func multipart(ctx context.Context, c *s3.Client, so storeOptions, o object, buf []byte, filled int, r io.Reader) (string, int64, error) {
	create := &s3.CreateMultipartUploadInput{Bucket: aws.String(so.bucket), Key: aws.String(o.key), Metadata: o.meta()}
	so.headers(o, &create.ContentType, &create.ContentEncoding, &create.ServerSideEncryption, &create.SSEKMSKeyId, &create.StorageClass)
	mp, err := c.CreateMultipartUpload(ctx, create)
	if err != nil {
		return "", 0, err
	}
	abort := func() {
		c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: aws.String(so.bucket), Key: aws.String(o.key), UploadId: mp.UploadId})
	}
	var parts []types.CompletedPart
	var total int64
	for num := int32(1); filled > 0; num++ {
		sum := md5.Sum(buf[:filled])
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(so.bucket), Key: aws.String(o.key), UploadId: mp.UploadId, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(buf[:filled]), ContentLength: aws.Int64(int64(filled)),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		})
		if err != nil {
			abort()
			return "", 0, err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		total += int64(filled)
		filled, err = io.ReadFull(r, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			abort()
			return "", 0, err
		}
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(so.bucket), Key: aws.String(o.key), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		abort()
		return "", 0, taken(err)
	}
	return strings.Trim(aws.ToString(done.ETag), `"`), total, nil
}
