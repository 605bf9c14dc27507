// gobench — the Go peer of bench/gort-bench: the same nine workloads, the
// same command line and the same output lines, so bench/compare.sh can put
// libgort's figures next to Go's.
//
//	gobench [--procs N] [--runs R] [--in-process] [WORKLOAD...]
//
// Each workload line is "<id> <name> procs=<N> <median> <unit>", the median
// of R runs with GOMAXPROCS=N.  Every workload checks what it computed
// (sums, counts) and the program exits 1 if any check fails.  Keep this file
// in step with bench/gort-bench.c and bench/w_*.c: same work, same counts.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type workload struct {
	id, name, unit string
	prec           int  // decimals printed
	isolate        bool // each run in a fresh process (RSS figures)
	what           string
	run            func() (float64, error)
}

var workloads = []workload{
	{"W1", "spawn", "ns/goroutine", 1, false, "start 1,000,000 goroutines that each signal a WaitGroup; wait", spawn},
	{"W2", "memory", "B/goroutine", 0, true, "RSS growth per goroutine parked on its own channel (100,000)", memory},
	{"W3", "pingpong", "ns/roundtrip", 1, false, "1,000,000 round trips between two goroutines on unbuffered channels", pingpong},
	{"W4", "spsc", "ns/item", 1, false, "one producer, one consumer, capacity 1024, 10,000,000 items", spsc},
	{"W5", "mpmc", "ns/item", 1, false, "4 producers, 4 consumers, capacity 1024, 10,000,000 items", mpmc},
	{"W6", "select", "ns/item", 1, false, "one consumer selecting over 4 unbuffered producers, 1,000,000 each", selectWL},
	{"W7", "mutex", "ns/op", 1, false, "8 goroutines x 1,250,000 lock/increment/unlock of one mutex", mutex},
	{"W8", "pipeline", "ns/item", 1, false, "generator -> 4 squarers -> merge -> sum, 1,000,000 items, done channel", pipeline},
	{"W9", "cancel", "us", 0, false, "cancel a root with 100 x 100 descendant contexts; until 10,000 waiters return", cancel},
	{"P1", "spawn-proc", "children/s", 0, false, "5,000 /bin/true children, 8 in flight (higher is better)", spawnProc},
}

func since(t0 time.Time) float64 { return float64(time.Since(t0).Nanoseconds()) }

// ---- W1 spawn ----------------------------------------------------------

const spawnN = 1000000

func spawn() (float64, error) {
	flags := make([]byte, spawnN)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(spawnN)
	for i := range flags {
		go func(p *byte) {
			*p = 1
			wg.Done()
		}(&flags[i])
	}
	wg.Wait()
	ns := since(t0) / spawnN
	for i, f := range flags {
		if f != 1 {
			return 0, fmt.Errorf("goroutine %d did not run", i)
		}
	}
	return ns, nil
}

// ---- W2 memory ---------------------------------------------------------

const memoryN = 100000

func rssBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: unexpected %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

func memory() (float64, error) {
	chans := make([]chan struct{}, memoryN)
	for i := range chans { // touch the array before the first measurement
		chans[i] = nil
	}
	var started, finished sync.WaitGroup
	var woken int64
	runtime.GC()
	before, err := rssBytes()
	if err != nil {
		return 0, err
	}
	started.Add(memoryN)
	finished.Add(memoryN)
	for i := range chans {
		chans[i] = make(chan struct{})
		go func(c chan struct{}) {
			started.Done()
			if _, ok := <-c; !ok {
				atomic.AddInt64(&woken, 1)
			}
			finished.Done()
		}(chans[i])
	}
	started.Wait()
	runtime.GC()
	after, err := rssBytes()
	if err != nil {
		return 0, err
	}
	for _, c := range chans {
		close(c)
	}
	finished.Wait()
	if woken != memoryN {
		return 0, fmt.Errorf("%d of %d goroutines saw their channel closed", woken, memoryN)
	}
	return float64(after-before) / memoryN, nil
}

// ---- W3 pingpong -------------------------------------------------------

const pingpongN = 1000000

func pingpong() (float64, error) {
	ping, pong := make(chan int64), make(chan int64)
	var wg sync.WaitGroup
	var served int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := range ping {
			served++
			pong <- v + 1
		}
	}()
	t0 := time.Now()
	for i := int64(0); i < pingpongN; i++ {
		ping <- i
		if v := <-pong; v != i+1 {
			return 0, fmt.Errorf("round trip %d came back as %d", i, v)
		}
	}
	ns := since(t0) / pingpongN
	close(ping)
	wg.Wait()
	if served != pingpongN {
		return 0, fmt.Errorf("the echo goroutine served %d round trips, not %d", served, pingpongN)
	}
	return ns, nil
}

// ---- W4 spsc, W5 mpmc --------------------------------------------------

const queueN = 10000000
const queueCap = 1024

// queue moves 0..queueN-1 from nprod producers to ncons consumers through
// one buffered channel and checks the count and sum that arrived.
func queue(nprod, ncons int) (float64, error) {
	ch := make(chan int64, queueCap)
	sums := make([]int64, ncons)
	counts := make([]int64, ncons)
	var prod, cons sync.WaitGroup
	t0 := time.Now()
	prod.Add(nprod)
	for p := 0; p < nprod; p++ {
		lo, hi := int64(p)*queueN/int64(nprod), int64(p+1)*queueN/int64(nprod)
		go func(lo, hi int64) {
			defer prod.Done()
			for v := lo; v < hi; v++ {
				ch <- v
			}
		}(lo, hi)
	}
	cons.Add(ncons)
	for c := 0; c < ncons; c++ {
		go func(c int) {
			defer cons.Done()
			var sum, n int64
			for v := range ch {
				sum += v
				n++
			}
			sums[c], counts[c] = sum, n
		}(c)
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	ns := since(t0) / queueN
	var sum, n int64
	for c := range sums {
		sum += sums[c]
		n += counts[c]
	}
	if n != queueN || sum != queueN*(queueN-1)/2 {
		return 0, fmt.Errorf("received %d items summing to %d, want %d summing to %d",
			n, sum, queueN, int64(queueN)*(queueN-1)/2)
	}
	return ns, nil
}

func spsc() (float64, error) { return queue(1, 1) }
func mpmc() (float64, error) { return queue(4, 4) }

// ---- W6 select ---------------------------------------------------------

const selectEach = 1000000

func selectWL() (float64, error) {
	var cs [4]chan int64
	for p := range cs {
		cs[p] = make(chan int64)
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(len(cs))
	for p := range cs {
		go func(c chan int64, base int64) {
			defer wg.Done()
			for i := int64(0); i < selectEach; i++ {
				c <- base + i
			}
			close(c)
		}(cs[p], int64(p)*selectEach)
	}
	c0, c1, c2, c3 := cs[0], cs[1], cs[2], cs[3]
	var sum, n int64
	for open := 4; open > 0; {
		var v int64
		var ok bool
		select {
		case v, ok = <-c0:
			if !ok {
				c0 = nil
			}
		case v, ok = <-c1:
			if !ok {
				c1 = nil
			}
		case v, ok = <-c2:
			if !ok {
				c2 = nil
			}
		case v, ok = <-c3:
			if !ok {
				c3 = nil
			}
		}
		if !ok {
			open--
			continue
		}
		sum += v
		n++
	}
	wg.Wait()
	ns := since(t0) / (4 * selectEach)
	const total = 4 * selectEach
	if n != total || sum != int64(total)*(total-1)/2 {
		return 0, fmt.Errorf("received %d items summing to %d, want %d summing to %d",
			n, sum, total, int64(total)*(total-1)/2)
	}
	return ns, nil
}

// ---- W7 mutex ----------------------------------------------------------

const mutexG = 8
const mutexEach = 1250000

func mutex() (float64, error) {
	var mu sync.Mutex
	var counter int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(mutexG)
	for g := 0; g < mutexG; g++ {
		go func() {
			defer wg.Done()
			for i := 0; i < mutexEach; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ns := since(t0) / (mutexG * mutexEach)
	if counter != mutexG*mutexEach {
		return 0, fmt.Errorf("counter is %d, want %d", counter, mutexG*mutexEach)
	}
	return ns, nil
}

// ---- W8 pipeline -------------------------------------------------------

const pipelineN = 1000000
const pipelineFan = 4

// The stages follow "Concurrency in Go": each owns and closes its output
// channel, and every send selects on done so that closing done stops it.
func generate(done <-chan struct{}, all *sync.WaitGroup, n int64) <-chan int64 {
	out := make(chan int64)
	go func() {
		defer all.Done()
		defer close(out)
		for i := int64(0); i < n; i++ {
			select {
			case out <- i:
			case <-done:
				return
			}
		}
	}()
	return out
}

func square(done <-chan struct{}, all *sync.WaitGroup, in <-chan int64) <-chan int64 {
	out := make(chan int64)
	go func() {
		defer all.Done()
		defer close(out)
		for v := range in {
			select {
			case out <- v * v:
			case <-done:
				return
			}
		}
	}()
	return out
}

func merge(done <-chan struct{}, all *sync.WaitGroup, ins []<-chan int64) <-chan int64 {
	out := make(chan int64)
	var fwd sync.WaitGroup
	fwd.Add(len(ins))
	for _, in := range ins {
		go func(in <-chan int64) {
			defer all.Done()
			defer fwd.Done()
			for v := range in {
				select {
				case out <- v:
				case <-done:
					return
				}
			}
		}(in)
	}
	go func() {
		defer all.Done()
		fwd.Wait()
		close(out)
	}()
	return out
}

func pipeline() (float64, error) {
	done := make(chan struct{})
	var all sync.WaitGroup
	t0 := time.Now()
	all.Add(1 + 2*pipelineFan + 1)
	gen := generate(done, &all, pipelineN)
	sq := make([]<-chan int64, pipelineFan)
	for i := range sq {
		sq[i] = square(done, &all, gen)
	}
	var sum, n int64
	for v := range merge(done, &all, sq) {
		sum += v
		n++
	}
	close(done)
	all.Wait()
	ns := since(t0) / pipelineN
	const want = int64(pipelineN-1) * pipelineN * (2*pipelineN - 1) / 6
	if n != pipelineN || sum != want {
		return 0, fmt.Errorf("received %d squares summing to %d, want %d summing to %d", n, sum, pipelineN, want)
	}
	return ns, nil
}

// ---- W9 cancel ---------------------------------------------------------

const cancelFan = 100

func cancel() (float64, error) {
	root, cancelRoot := context.WithCancel(context.Background())
	var cancels []context.CancelFunc
	var leaves []context.Context
	for i := 0; i < cancelFan; i++ {
		child, cc := context.WithCancel(root)
		cancels = append(cancels, cc)
		for j := 0; j < cancelFan; j++ {
			leaf, lc := context.WithCancel(child)
			cancels = append(cancels, lc)
			leaves = append(leaves, leaf)
		}
	}
	var ready, finished sync.WaitGroup
	var woken int64
	ready.Add(len(leaves))
	finished.Add(len(leaves))
	for _, leaf := range leaves {
		go func(ctx context.Context) {
			ready.Done()
			<-ctx.Done()
			atomic.AddInt64(&woken, 1)
			finished.Done()
		}(leaf)
	}
	ready.Wait()
	t0 := time.Now()
	cancelRoot()
	finished.Wait()
	us := since(t0) / 1000
	for _, cc := range cancels {
		cc()
	}
	if woken != int64(len(leaves)) {
		return 0, fmt.Errorf("%d of %d waiters returned", woken, len(leaves))
	}
	for i, leaf := range leaves {
		if leaf.Err() != context.Canceled {
			return 0, fmt.Errorf("leaf %d: err %v, want %v", i, leaf.Err(), context.Canceled)
		}
	}
	return us, nil
}

// ---- P1 spawn-proc -----------------------------------------------------

const procTotal, procInflight = 5000, 8

func spawnProc() (float64, error) {
	var next, ok int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	t0 := time.Now()
	wg.Add(procInflight)
	for i := 0; i < procInflight; i++ {
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= procTotal {
				if err := exec.Command("/bin/true").Run(); err != nil {
					firstErr.Store(err)
				} else {
					atomic.AddInt64(&ok, 1)
				}
			}
		}()
	}
	wg.Wait()
	rate := procTotal / time.Since(t0).Seconds()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	if ok != procTotal {
		return 0, fmt.Errorf("%d of %d children exited 0", ok, procTotal)
	}
	return rate, nil
}

// ---- driver ------------------------------------------------------------

func usage(out *os.File) {
	fmt.Fprintf(out, `usage: gobench [--procs N] [--runs R] [--in-process] [WORKLOAD...]
Runs Go's side of the gort-bench workloads (all when none is named) and prints
"<id> <name> procs=<N> <median> <unit>" per workload, the median of R runs
(default 5) with GOMAXPROCS=N (without --procs: 1, then 2).
  --in-process  run W2 in this process too (normally each run is a fresh
                process, so memory freed by earlier work does not hide its cost)
Workloads (by id or name):
`)
	for _, w := range workloads {
		fmt.Fprintf(out, "  %-3s %-9s %s\n", w.id, w.name, w.what)
	}
}

func die(code int, format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "gobench: "+format+"\n", a...)
	os.Exit(code)
}

func find(name string) *workload {
	for i := range workloads {
		if strings.EqualFold(name, workloads[i].id) || name == workloads[i].name {
			return &workloads[i]
		}
	}
	return nil
}

type options struct {
	procs     []int
	runs      int
	inProcess bool
	selected  []*workload
}

func intArg(args []string, i *int, name string, max int) int {
	a := args[*i]
	var s string
	if eq := strings.IndexByte(a, '='); eq >= 0 {
		s = a[eq+1:]
	} else if *i+1 < len(args) {
		*i++
		s = args[*i]
	} else {
		die(2, "%s needs a value", name)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > max {
		die(2, "%s: %q is not a number in 1..%d", name, s, max)
	}
	return v
}

func parse(args []string) options {
	o := options{procs: []int{1, 2}, runs: 5}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--help" || a == "-h":
			usage(os.Stdout)
			os.Exit(0)
		case a == "--procs" || strings.HasPrefix(a, "--procs="):
			o.procs = []int{intArg(args, &i, "--procs", 256)}
		case a == "--runs" || strings.HasPrefix(a, "--runs="):
			o.runs = intArg(args, &i, "--runs", 1000)
		case a == "--in-process":
			o.inProcess = true
		case strings.HasPrefix(a, "-"):
			die(2, "unknown option %q (try --help)", a)
		default:
			w := find(a)
			if w == nil {
				die(2, "unknown workload %q (try --help)", a)
			}
			o.selected = append(o.selected, w)
		}
	}
	if o.selected == nil {
		for i := range workloads {
			o.selected = append(o.selected, &workloads[i])
		}
	}
	return o
}

// runIsolated runs one run of w in a fresh copy of this program and parses
// the figure from its output line.
func runIsolated(w *workload, procs int) (float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(exe, "--procs", strconv.Itoa(procs), "--runs", "1", "--in-process", w.id)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("child run: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 5 || f[0] != w.id {
		return 0, fmt.Errorf("child run printed %q", out)
	}
	return strconv.ParseFloat(f[3], 64)
}

func runOnce(w *workload, procs int, inProcess bool) (float64, error) {
	if w.isolate && !inProcess {
		return runIsolated(w, procs)
	}
	runtime.GOMAXPROCS(procs)
	runtime.GC()
	return w.run()
}

func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func main() {
	o := parse(os.Args[1:])
	failed := false
	for _, procs := range o.procs {
		for _, w := range o.selected {
			vals := make([]float64, 0, o.runs)
			var err error
			for r := 0; r < o.runs && err == nil; r++ {
				var v float64
				if v, err = runOnce(w, procs, o.inProcess); err == nil {
					vals = append(vals, v)
				}
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "gobench: %s %s procs=%d FAILED: %v\n", w.id, w.name, procs, err)
				failed = true
				continue
			}
			fmt.Printf("%s %s procs=%d %.*f %s\n", w.id, w.name, procs, w.prec, median(vals), w.unit)
		}
	}
	if failed {
		os.Exit(1)
	}
}
