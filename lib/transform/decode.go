package transform

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/skyflows/skyflows/lib/jsonscan"
)

// validObject checks that line is one JSON object, with the scanner's
// plain error messages.
func validObject(line []byte) error {
	if _, err := jsonscan.Members(line, nil); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// shortError keeps the first clause of a json-iterator error, which
// otherwise quotes the input at length.
func shortError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), ", error found in")
	return errors.New(msg)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
