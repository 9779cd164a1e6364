//go:build !linux

package natsbus

import "io"

// unreadOf: elsewhere, a message counts as read once written.
func unreadOf(io.Writer) func() int { return func() int { return 0 } }

// readerGoneOf: elsewhere, a closed reader is seen at the next write.
func readerGoneOf(io.Writer) func() bool { return func() bool { return false } }
