// go-plugin's figures for the bench (bench/go_plugin.ts builds and runs
// this): one binary that is both the host and the plugin (net/rpc over
// go-plugin's Unix socket, its basic example's shape). The host prints one
// JSON object: start to first call, sequential round trips, throughput with
// 64 callers, and the plugin's idle private memory.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/rpc"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

type Greeter interface{ SayHello(name string) string }

type greeterImpl struct{}

func (greeterImpl) SayHello(name string) string { return "hello, " + name }

type GreeterRPC struct{ client *rpc.Client }

func (g *GreeterRPC) SayHello(name string) string {
	var out string
	if err := g.client.Call("Plugin.SayHello", name, &out); err != nil {
		panic(err)
	}
	return out
}

type GreeterRPCServer struct{ Impl Greeter }

func (s *GreeterRPCServer) SayHello(name string, out *string) error {
	*out = s.Impl.SayHello(name)
	return nil
}

type GreeterPlugin struct{ Impl Greeter }

func (p *GreeterPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return &GreeterRPCServer{Impl: p.Impl}, nil
}

func (GreeterPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &GreeterRPC{client: c}, nil
}

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGBOX_BENCH_PLUGIN",
	MagicCookieValue: "greeter",
}

func start(self string) (*plugin.Client, Greeter) {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"greeter": &GreeterPlugin{}},
		Cmd:             exec.Command(self),
		Logger:          hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	rpcClient, err := client.Client()
	if err != nil {
		panic(err)
	}
	raw, err := rpcClient.Dispense("greeter")
	if err != nil {
		panic(err)
	}
	return client, raw.(Greeter)
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func privateMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	kb := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Private_") {
			f := strings.Fields(line)
			n, _ := strconv.Atoi(f[1])
			kb += n
		}
	}
	return float64(kb) / 1024
}

func main() {
	if os.Getenv(handshake.MagicCookieKey) == handshake.MagicCookieValue {
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: handshake,
			Plugins:         map[string]plugin.Plugin{"greeter": &GreeterPlugin{Impl: greeterImpl{}}},
		})
		return
	}
	calls, _ := strconv.Atoi(os.Args[1])
	self, _ := os.Executable()
	t0 := time.Now()
	client, greeter := start(self)
	greeter.SayHello("a")
	startMs := ms(time.Since(t0))
	for i := 0; i < 200; i++ {
		greeter.SayHello("a")
	}
	lat := make([]float64, calls)
	for i := range lat {
		t := time.Now()
		greeter.SayHello("a")
		lat[i] = ms(time.Since(t))
	}
	sort.Float64s(lat)
	var left int64 = int64(calls) * 4
	var wg sync.WaitGroup
	t1 := time.Now()
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&left, -1) >= 0 {
				greeter.SayHello("a")
			}
		}()
	}
	wg.Wait()
	rate := float64(calls*4) / time.Since(t1).Seconds()
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	out, _ := json.Marshal(map[string]float64{
		"start": startMs,
		"p50":   lat[len(lat)/2],
		"p99":   lat[len(lat)*99/100],
		"rate":  rate,
		"privateMiB": privateMiB(pid),
	})
	client.Kill()
	fmt.Println(string(out))
}
