package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// stderrTail keeps the end of a subprocess's error output, for messages.
type stderrTail struct {
	mu sync.Mutex
	b  []byte
}

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

func (t *stderrTail) line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}

// procs is a pipeline of subprocesses (ffmpeg | aplay, arecord | ffmpeg).
type procs struct {
	cmds   []*exec.Cmd
	stderr []*stderrTail
	done   chan struct{}
	err    error         // the first failure, with its stderr; set before done is closed
	cpu    time.Duration // the processes' CPU time, user and system; set before done is closed
}

// runPipeline starts argvs with each one's stdout going to the next's
// stdin: stdin feeds the first, and the last writes to stdout (nil:
// nothing). All are killed when ctx ends.
func runPipeline(ctx context.Context, stdin io.Reader, stdout io.Writer, argvs ...[]string) (*procs, error) {
	p := &procs{done: make(chan struct{})}
	var parentEnds []io.Closer
	for _, argv := range argvs {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		tail := &stderrTail{}
		cmd.Stderr = tail
		p.cmds, p.stderr = append(p.cmds, cmd), append(p.stderr, tail)
	}
	p.cmds[0].Stdin = stdin
	p.cmds[len(p.cmds)-1].Stdout = stdout
	for i := 0; i+1 < len(p.cmds); i++ {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		p.cmds[i].Stdout, p.cmds[i+1].Stdin = w, r
		parentEnds = append(parentEnds, r, w)
	}
	for i, cmd := range p.cmds {
		if err := cmd.Start(); err != nil {
			for _, c := range p.cmds[:i] {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
			for _, c := range parentEnds {
				_ = c.Close()
			}
			return nil, fmt.Errorf("cannot start %s: %w", argvs[i][0], err)
		}
	}
	for _, c := range parentEnds { // the children hold them now
		_ = c.Close()
	}
	go func() {
		defer close(p.done)
		for i, cmd := range p.cmds {
			if err := cmd.Wait(); err != nil && p.err == nil && ctx.Err() == nil {
				p.err = fmt.Errorf("%s: %v: %s", filepathBase(argvs[i][0]), err, p.stderr[i].line())
			}
			if st := cmd.ProcessState; st != nil {
				p.cpu += st.UserTime() + st.SystemTime()
			}
		}
	}()
	return p, nil
}

func filepathBase(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// kill ends every process of the pipeline and waits for them.
func (p *procs) kill() {
	for _, c := range p.cmds {
		_ = c.Process.Kill()
	}
	<-p.done
}
