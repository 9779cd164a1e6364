package backlog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func block(i int) Block {
	return Block{Records: 1, Data: []byte(fmt.Sprintf("block %06d %s\n", i, "padding-padding-padding"))}
}

// drain pops n blocks and checks they come in order from first.
func drain(t *testing.T, q *Queue, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		b, ok, err := q.Pop()
		if err != nil || !ok {
			t.Fatalf("pop %d: ok %v err %v", i, ok, err)
		}
		if want := block(i); string(b.Data) != string(want.Data) {
			t.Fatalf("pop %d: got %q", i, b.Data)
		}
	}
}

func TestSpillKeepsOrder(t *testing.T) {
	q, err := New(10*len(block(0).Data), t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Fill memory, spill, drain some, push more while the disk still holds
	// blocks: they must queue behind them.
	for i := range 100 {
		if ok, err := q.Push(block(i)); !ok || err != nil {
			t.Fatalf("push %d: %v %v", i, ok, err)
		}
	}
	if s := q.Size(); s.Records != 100 || s.MemBytes != 10*len(block(0).Data) || s.DiskBytes == 0 {
		t.Fatalf("size %+v", s)
	}
	drain(t, q, 0, 50)
	for i := 100; i < 150; i++ {
		q.Push(block(i))
	}
	drain(t, q, 50, 100)
	if q.Ready() {
		t.Fatal("queue not empty")
	}
	// Memory is used again once the disk is empty.
	q.Push(block(150))
	if s := q.Size(); s.DiskBytes != 0 || s.Records != 1 {
		t.Fatalf("after draining the disk: %+v", s)
	}
	q.Close()
	drain(t, q, 150, 1)
	if _, ok, _ := q.Pop(); ok {
		t.Fatal("pop after close and drain")
	}
	if err := q.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestBounds(t *testing.T) {
	size := len(block(0).Data)
	q, _ := New(2*size, "", 0)
	for i := range 2 {
		if ok, _ := q.Push(block(i)); !ok {
			t.Fatalf("push %d refused", i)
		}
	}
	if ok, _ := q.Push(block(2)); ok {
		t.Fatal("memory-only queue took more than its size")
	}
	q, _ = New(size, t.TempDir(), int64(3*(size+8)))
	accepted := 0
	for i := range 10 {
		if ok, _ := q.Push(block(i)); ok {
			accepted++
		}
	}
	if accepted != 4 {
		t.Fatalf("accepted %d blocks, want 1 in memory + 3 on disk", accepted)
	}
}

func TestLeftoversComeFirst(t *testing.T) {
	dir := t.TempDir()
	q, _ := New(0, dir, 1<<20)
	for i := range 20 {
		q.Push(block(i))
	}
	drain(t, q, 0, 5)
	// A crash: nothing is released. Add a torn block at the end of the
	// segment, as a crash while writing leaves it.
	f, err := os.OpenFile(segName(dir, 0), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{1, 0, 0, 0, 100, 0, 0, 0, 'x'})
	f.Close()

	q2, err := New(1<<20, dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// At least once: the 5 blocks popped before the crash come again.
	if s := q2.Size(); s.Records != 20 {
		t.Fatalf("leftovers: %+v", s)
	}
	q2.Push(block(20))
	drain(t, q2, 0, 21)
	q2.Close()
	if err := q2.Release(); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(left) != 0 {
		t.Fatalf("segments left after a full drain: %v", left)
	}
}

func TestPushWait(t *testing.T) {
	size := len(block(0).Data)
	q, _ := New(2*size, "", 0)
	done := make(chan bool)
	go func() {
		for i := range 50 {
			q.PushWait(block(i))
		}
		q.Close()
		done <- true
	}()
	drain(t, q, 0, 50)
	<-done
}

func BenchmarkSpill(b *testing.B) {
	q, _ := New(1<<20, b.TempDir(), 1<<30)
	data := make([]byte, 90000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		q.Push(Block{Records: 100, Data: data})
		q.Pop()
	}
}
