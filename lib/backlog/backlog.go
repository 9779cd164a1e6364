// Package backlog is a first-in first-out queue of blocks that never
// blocks its producer: blocks wait in memory up to a size, then in segment
// files on disk up to a size, and only past both are they refused.
package backlog

import (
	"sync"
)

// Block is a unit of queued data and the number of records in it.
type Block struct {
	Records int
	Data    []byte
}

// Queue is a FIFO of blocks, in memory and then on disk.
type Queue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	mem      []Block
	memBytes int
	memMax   int
	disk     *disk // nil: memory only
	closed   bool
}

// New returns a queue holding up to memMax bytes in memory and, if dir is
// not empty, up to diskMax bytes in segment files in dir. Blocks left in
// dir by an earlier run come out first.
func New(memMax int, dir string, diskMax int64) (*Queue, error) {
	q := &Queue{memMax: memMax}
	q.cond = sync.NewCond(&q.mu)
	if dir != "" {
		d, err := openDisk(dir, diskMax)
		if err != nil {
			return nil, err
		}
		q.disk = d
	}
	return q, nil
}

// Push queues b without waiting; the queue owns b.Data from then on. It
// reports false if b did not fit in memory or on disk, or the queue is closed.
func (q *Queue) Push(b Block) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, nil
	}
	spilling := q.disk != nil && q.disk.pending > 0
	if !spilling && q.memBytes+len(b.Data) <= q.memMax {
		q.pushMem(b)
		return true, nil
	}
	if q.disk == nil {
		return false, nil
	}
	ok, err := q.disk.push(b)
	if ok {
		q.cond.Signal()
	}
	return ok, err
}

// PushWait queues b in memory, waiting while memory is full: for a
// producer that may be held back (a replay).
func (q *Queue) PushWait(b Block) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.memBytes > 0 && q.memBytes+len(b.Data) > q.memMax {
		q.cond.Wait()
	}
	if q.closed {
		return false
	}
	q.pushMem(b)
	return true
}

func (q *Queue) pushMem(b Block) {
	q.mem = append(q.mem, b)
	q.memBytes += len(b.Data)
	q.cond.Broadcast()
}

// Pop returns the oldest block, waiting for one. After Close it returns
// what is left and then false.
func (q *Queue) Pop() (Block, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.mem) > 0 {
			b := q.mem[0]
			q.mem[0] = Block{}
			q.mem = q.mem[1:]
			q.memBytes -= len(b.Data)
			q.cond.Broadcast()
			return b, true, nil
		}
		if q.disk != nil && q.disk.pending > 0 {
			b, err := q.disk.pop()
			return b, err == nil, err
		}
		if q.closed {
			return Block{}, false, nil
		}
		q.cond.Wait()
	}
}

// Ready reports whether a Pop would return at once.
func (q *Queue) Ready() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.mem) > 0 || (q.disk != nil && q.disk.pending > 0)
}

// Close refuses further pushes; Pop drains what is queued.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Size is what the queue holds: records, in memory and on disk.
type Size struct {
	Records   int
	MemBytes  int
	DiskBytes int64
}

// Size returns what the queue holds now.
func (q *Queue) Size() Size {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Size{MemBytes: q.memBytes}
	for _, b := range q.mem {
		s.Records += b.Records
	}
	if q.disk != nil {
		s.Records += q.disk.records
		s.DiskBytes = q.disk.bytes
	}
	return s
}

// Release closes the disk files; with a private directory it also removes
// them. What is still on disk in a given directory stays for the next run.
func (q *Queue) Release() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.disk == nil {
		return nil
	}
	return q.disk.close()
}
