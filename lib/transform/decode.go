package transform

import (
	"fmt"

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
