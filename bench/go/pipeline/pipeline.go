// pipeline — the Go twin of godaemon's `seq 1 N | map upper | count` job,
// for bench/pipelines.sh: three goroutines joined by buffered channels of
// the daemon's default queue_capacity (64), each item a freshly allocated
// byte string (the decimal number), upper-cased in place by the map stage
// and counted by the last.  As in the daemon, every receive and send also
// watches a context, so the pipeline could be cancelled.
//
//	pipeline [--procs N] [--items N] [--capacity C]
//
// Prints the seconds from starting the goroutines to the counter's total
// (GOMAXPROCS=N, after a runtime.GC()); exits 1 if the count is wrong.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func seq(ctx context.Context, from, to int64, capacity int) <-chan []byte {
	out := make(chan []byte, capacity)
	go func() {
		defer close(out)
		for v := from; v <= to; v++ {
			select {
			case out <- strconv.AppendInt(nil, v, 10):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func upper(ctx context.Context, in <-chan []byte, capacity int) <-chan []byte {
	out := make(chan []byte, capacity)
	go func() {
		defer close(out)
		for {
			var it []byte
			var ok bool
			select {
			case it, ok = <-in:
			case <-ctx.Done():
				return
			}
			if !ok {
				return
			}
			for i, c := range it {
				if c >= 'a' && c <= 'z' {
					it[i] = c - 32
				}
			}
			select {
			case out <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func count(ctx context.Context, in <-chan []byte) <-chan int64 {
	total := make(chan int64, 1)
	go func() {
		var n int64
		defer func() { total <- n }()
		for {
			select {
			case _, ok := <-in:
				if !ok {
					return
				}
				n++
			case <-ctx.Done():
				return
			}
		}
	}()
	return total
}

func main() {
	procs := flag.Int("procs", 2, "GOMAXPROCS")
	items := flag.Int64("items", 10000000, "items from seq 1 N")
	capacity := flag.Int("capacity", 64, "capacity of each channel")
	flag.Parse()
	if *procs < 1 || *items < 1 || *capacity < 1 {
		fmt.Fprintln(os.Stderr, "pipeline: --procs, --items and --capacity must be positive")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	runtime.GC()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	n := <-count(ctx, upper(ctx, seq(ctx, 1, *items, *capacity), *capacity))
	elapsed := time.Since(t0)
	if n != *items {
		fmt.Fprintf(os.Stderr, "pipeline: counted %d items, not %d\n", n, *items)
		os.Exit(1)
	}
	fmt.Printf("%.6f\n", elapsed.Seconds())
}
