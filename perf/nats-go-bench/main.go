// nats-go-bench: the pubsub and request workloads of perf/bench.c over nats.go, the Go client of
// nats-server (its fastest client), so that perf/compare.sh compares TRPC with the best each peer
// has. Same flags, same flow control and the same result line as trpc-bench and nats-bench
// (system=NATS-go); built offline from Debian's golang-github-nats-io-go-nats-dev.
//
// Payload bytes 0..7 carry the sender's monotonic clock (ns since the process started); publishers
// together stay at most window messages ahead of the slowest subscriber (of the group as a whole
// with --group). Requests: --inflight goroutines, each sending its next request once the last one
// is answered (nats.go's Request over its shared reply subscription); responders echo the payload
// from a queue subscription.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	windowBytes    = 4 << 20
	windowMsgsMax  = 10000
	requestTimeout = 5 * time.Second
	drainIdle      = time.Second
	drainMax       = 10 * time.Second
)

var epoch = time.Now()

func now() uint64 { return uint64(time.Since(epoch)) }

// hist: log-linear buckets, 1/1024 relative precision: 64 magnitudes of 1024 sub-buckets.
type hist struct {
	counts [64 * 1024]uint64
	total  uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < 1024 {
		return int(v)
	}
	e := bits.Len64(v) - 10 // v >> e is 512..1023
	return e*1024 + int(v>>uint(e))
}

func valueOf(b int) uint64 {
	e, m := b/1024, uint64(b%1024)
	if e == 0 {
		return m
	}
	return m << uint(e)
}

func (h *hist) record(v uint64) {
	h.counts[bucketOf(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

func (h *hist) percentile(p float64) uint64 {
	want := uint64(math.Ceil(p / 100 * float64(h.total)))
	if want == 0 {
		want = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want {
			return valueOf(i)
		}
	}
	return h.max
}

type peer struct {
	nc    *nats.Conn
	count atomic.Uint64
	last  atomic.Uint64
	mu    sync.Mutex
	h     hist
}

func (p *peer) receive(data []byte) {
	t := now()
	if len(data) >= 8 {
		sent := binary.LittleEndian.Uint64(data)
		d := uint64(0)
		if t >= sent {
			d = t - sent
		}
		p.mu.Lock()
		p.h.record(d)
		p.mu.Unlock()
	}
	p.last.Store(t)
	p.count.Add(1)
}

func stamp(buf []byte) {
	if len(buf) >= 8 {
		binary.LittleEndian.PutUint64(buf, now())
	}
}

type args struct {
	workload               string
	url, group             string
	pubs, subs, responders int
	inflight               int
	size                   int
	duration               float64
	window                 uint64
	quiet                  bool
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "nats-go-bench: "+format+"\n", a...)
	os.Exit(1)
}

// tlsCA is -tls-ca: the CAs that sign the server's certificate (a tls:// URL).
var tlsCA string

func connect(url, name string) *nats.Conn {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(0)}
	if tlsCA != "" {
		opts = append(opts, nats.RootCAs(tlsCA))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		die("connect %s: %v", url, err)
	}
	return nc
}

func total(peers []*peer) (sum, floor uint64) {
	floor = math.MaxUint64
	for _, p := range peers {
		c := p.count.Load()
		sum += c
		if c < floor {
			floor = c
		}
	}
	return
}

// drain waits until done says everything came, or nothing came for a while.
func drain(peers []*peer, done func() bool) {
	start := time.Now()
	last, _ := total(peers)
	lastChange := start
	for !done() {
		time.Sleep(time.Millisecond)
		got, _ := total(peers)
		if got != last {
			last, lastChange = got, time.Now()
		}
		if time.Since(lastChange) > drainIdle || time.Since(start) > drainMax {
			break
		}
	}
}

func latency(h *hist) string {
	if h.total == 0 {
		return " p50_us=- p90_us=- p99_us=- p999_us=- max_us=-"
	}
	var b strings.Builder
	for i, p := range []float64{50, 90, 99, 99.9} {
		fmt.Fprintf(&b, " %s=%.1f", []string{"p50_us", "p90_us", "p99_us", "p999_us"}[i], float64(h.percentile(p))/1e3)
	}
	fmt.Fprintf(&b, " max_us=%.1f", float64(h.max)/1e3)
	return b.String()
}

func pubsub(a *args, topic string) {
	peers := make([]*peer, a.subs)
	for i := range peers {
		p := &peer{nc: connect(a.url, fmt.Sprintf("bench-sub-%d", i))}
		cb := func(m *nats.Msg) { p.receive(m.Data) }
		var err error
		if a.group != "" {
			_, err = p.nc.QueueSubscribe(topic, a.group, cb)
		} else {
			_, err = p.nc.Subscribe(topic, cb)
		}
		if err == nil {
			err = p.nc.Flush()
		}
		if err != nil {
			die("subscribe %s: %v", topic, err)
		}
		peers[i] = p
	}
	var sent atomic.Uint64
	var stop atomic.Bool
	floor := func() uint64 {
		sum, fl := total(peers)
		if a.group != "" {
			return sum
		}
		return fl
	}
	pubs := make([]*nats.Conn, a.pubs)
	for i := range pubs {
		pubs[i] = connect(a.url, fmt.Sprintf("bench-pub-%d", i))
	}
	start := now()
	var wg sync.WaitGroup
	for _, nc := range pubs {
		wg.Add(1)
		go func(nc *nats.Conn) {
			defer wg.Done()
			buf := make([]byte, a.size)
			budget := uint64(0)
			for !stop.Load() {
				if budget == 0 {
					ahead := sent.Load() - floor()
					if ahead < a.window {
						budget = a.window - ahead
					}
					if budget == 0 {
						time.Sleep(20 * time.Microsecond)
						continue
					}
				}
				stamp(buf)
				if err := nc.Publish(topic, buf); err != nil {
					die("publish: %v", err)
				}
				sent.Add(1)
				budget--
			}
		}(nc)
	}
	time.Sleep(time.Duration(a.duration * float64(time.Second)))
	stop.Store(true)
	wg.Wait()
	pubEnd := now()
	for _, nc := range pubs {
		nc.Flush()
	}
	want := func() uint64 {
		if a.group != "" {
			return sent.Load()
		}
		return sent.Load() * uint64(a.subs)
	}
	drain(peers, func() bool { got, _ := total(peers); return got >= want() })
	var all hist
	var end uint64
	for _, p := range peers {
		p.nc.Close()
		p.mu.Lock()
		all.merge(&p.h)
		p.mu.Unlock()
		if t := p.last.Load(); t > end {
			end = t
		}
	}
	for _, nc := range pubs {
		nc.Close()
	}
	got, _ := total(peers)
	loss := uint64(0)
	if want() > got {
		loss = want() - got
	}
	if end <= start {
		end = pubEnd
	}
	secs, pubSecs := float64(end-start)/1e9, float64(pubEnd-start)/1e9
	rate, mbps := float64(got)/secs, float64(got)*float64(a.size)/1e6/secs
	group := a.group
	if group == "" {
		group = "-"
	}
	if !a.quiet {
		fmt.Printf("NATS-go pubsub: %d publisher(s) -> %d subscriber(s), %d B, window %d msgs, %.1f s\n", a.pubs, a.subs, a.size,
			a.window, pubSecs)
	}
	fmt.Printf("result workload=pubsub size=%d msgs_per_s=%.0f mb_per_s=%.2f sent=%d delivered=%d loss=%d%s pub_per_s=%.0f "+
		"pubs=%d subs=%d group=%s window=%d callbacks=thread system=NATS-go\n", a.size, rate, mbps, sent.Load(), got, loss,
		latency(&all), float64(sent.Load())/pubSecs, a.pubs, a.subs, group, a.window)
}

func request(a *args, topic string) {
	group := a.group
	if group == "" {
		group = "bench"
	}
	peers := make([]*peer, a.responders)
	for i := range peers {
		p := &peer{nc: connect(a.url, fmt.Sprintf("bench-responder-%d", i))}
		_, err := p.nc.QueueSubscribe(topic, group, func(m *nats.Msg) {
			if m.Respond(m.Data) == nil {
				p.count.Add(1)
			}
		})
		if err == nil {
			err = p.nc.Flush()
		}
		if err != nil {
			die("serve %s: %v", topic, err)
		}
		peers[i] = p
	}
	req := &peer{nc: connect(a.url, "bench-requester")}
	var sent, errs atomic.Uint64
	var stop atomic.Bool
	var firstErr atomic.Value
	start := now()
	var wg sync.WaitGroup
	for i := 0; i < a.inflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, a.size)
			for !stop.Load() {
				stamp(buf)
				sent.Add(1)
				m, err := req.nc.Request(topic, buf, requestTimeout)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				req.receive(m.Data)
			}
		}()
	}
	time.Sleep(time.Duration(a.duration * float64(time.Second)))
	stop.Store(true)
	wg.Wait()
	req.nc.Close()
	var served uint64
	share := make([]string, len(peers))
	for _, p := range peers {
		served += p.count.Load()
	}
	for i, p := range peers {
		pct := 0.0
		if served > 0 {
			pct = 100 * float64(p.count.Load()) / float64(served)
		}
		share[i] = fmt.Sprintf("%.1f", pct)
		p.nc.Close()
	}
	got := req.count.Load()
	end := req.last.Load()
	if end <= start {
		end = now()
	}
	secs := float64(end-start) / 1e9
	if got == 0 {
		die("request: no replies: %v", firstErr.Load())
	}
	if !a.quiet {
		fmt.Printf("NATS-go request: %d in flight over %d responder(s), %d B, %.1f s, errors %d\n", a.inflight, a.responders, a.size,
			secs, errs.Load())
	}
	fmt.Printf("result workload=request size=%d msgs_per_s=%.0f mb_per_s=%.2f sent=%d delivered=%d loss=%d%s responders=%d "+
		"inflight=%d share=%s callbacks=thread system=NATS-go\n", a.size, float64(got)/secs, float64(got)*float64(a.size)/1e6/secs,
		sent.Load(), got, sent.Load()-got, latency(&req.h), a.responders, a.inflight, strings.Join(share, "/"))
}

func main() {
	a := &args{}
	var window uint64
	flag.StringVar(&a.url, "url", "nats://127.0.0.1:4222", "the server")
	flag.IntVar(&a.pubs, "pubs", 1, "publishers (pubsub)")
	flag.IntVar(&a.subs, "subs", 1, "subscribers (pubsub)")
	flag.IntVar(&a.responders, "responders", 1, "responders (request)")
	flag.IntVar(&a.inflight, "inflight", 1, "requests in flight (request)")
	flag.StringVar(&a.group, "group", "", "queue group of the subscribers (pubsub) or responders (request)")
	flag.IntVar(&a.size, "size", 256, "payload bytes")
	flag.Float64Var(&a.duration, "duration", 5, "seconds")
	flag.Uint64Var(&window, "window", 0, "messages publishers may be ahead (0: 4 MiB of payload, at most 10000)")
	flag.BoolVar(&a.quiet, "quiet", false, "only the result line")
	flag.StringVar(&tlsCA, "tls-ca", "", "the CA certificates (PEM) that sign the server's certificate, for a tls:// URL")
	if len(os.Args) < 2 || (os.Args[1] != "pubsub" && os.Args[1] != "request") {
		die("usage: nats-go-bench pubsub|request [--url URL] [--pubs N] [--subs N] [--responders N] [--inflight N] [--group G] " +
			"[--size B] [--duration S] [--window N] [--quiet]")
	}
	a.workload = os.Args[1]
	if err := flag.CommandLine.Parse(os.Args[2:]); err != nil || flag.NArg() > 0 {
		die("bad arguments (see --help)")
	}
	if a.pubs < 1 || a.pubs > 64 || a.subs < 1 || a.subs > 64 || a.responders < 1 || a.responders > 64 || a.inflight < 1 ||
		a.inflight > 65536 || a.size < 0 || a.size > 16<<20 || a.duration <= 0 {
		die("a count, size or duration out of range")
	}
	a.window = window
	if a.window == 0 {
		a.window = windowMsgsMax
		if a.size > 0 && windowBytes/uint64(a.size) < a.window {
			a.window = windowBytes / uint64(a.size)
		}
		if a.window == 0 {
			a.window = 1
		}
	}
	topic := fmt.Sprintf("bench.%d.%s", os.Getpid(), a.workload)
	if a.workload == "pubsub" {
		pubsub(a, topic)
	} else {
		request(a, topic)
	}
}
