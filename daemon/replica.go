package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"doorbell/clipstore"
	"doorbell/config"
	"doorbell/recorder"
	"doorbell/replica"
	"doorbell/replica/uploader"
)

// replicaStateFile notes, in the data directory, how much of each clip the
// replica holds.
const replicaStateFile = "replica-state.json"

// replicaPart copies every sealed piece of every clip to the storage
// [replica] names, as the recorder writes it (replica/uploader). A replica
// that cannot start (its credentials file unreadable) is reported in the
// log and in /healthz, and recording goes on without it.
type replicaPart struct {
	u   *uploader.Uploader // nil: off
	off string             // why it is off, when it was configured
	log *slog.Logger
}

func newReplica(c config.Replica, dataDir string, store *clipstore.Store, log *slog.Logger) *replicaPart {
	log = log.With("part", "replica")
	if !c.Enabled {
		return &replicaPart{log: log}
	}
	target := replica.Target{Endpoint: c.Endpoint, Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region}
	client, err := replicaClient(c, target)
	if err != nil {
		log.Error("the replica is off: recording goes on, on this device only", "err", err)
		return &replicaPart{off: "off: " + err.Error(), log: log}
	}
	u := uploader.New(client, replicaFiles{store}, uploader.Config{
		MaxQueue:  c.QueueBytes,
		StateFile: filepath.Join(dataDir, replicaStateFile),
	}, log)
	log.Info("copying sealed clips to the replica as they are written", "target", target.String())
	return &replicaPart{u: u, log: log}
}

// target is what the recorder tells of each sealed piece; nil when off.
func (p *replicaPart) target() recorder.Replica {
	if p.u == nil {
		return nil
	}
	return p.u
}

func (p *replicaPart) start(ctx context.Context, h *host) error {
	if p.u == nil {
		if p.off != "" {
			h.AddHealth("replica", func() any { return p.off })
		}
		return nil
	}
	if err := p.u.RegisterMetrics(h.metrics); err != nil {
		return fmt.Errorf("replica metrics: %w", err)
	}
	h.AddHealth("replica", func() any { return p.u.Status() })
	h.goBackground(func() { p.u.Run(ctx) })
	return nil
}

func replicaClient(c config.Replica, t replica.Target) (*replica.Client, error) {
	creds, err := replica.LoadCredentialsFile(c.CredentialsFile, c.Profile)
	if err != nil {
		return nil, fmt.Errorf("replica.credentials_file: %w", err)
	}
	return replica.NewClient(t, creds, nil)
}

// replicaFiles is the clips directory as the uploader reads it.
type replicaFiles struct{ store *clipstore.Store }

func (f replicaFiles) OpenClip(id string) (uploader.Sealed, error) { return f.store.OpenSealed(id) }

func (f replicaFiles) ReadRecord(id string) ([]byte, error) {
	return os.ReadFile(f.store.RecordPath(id))
}

func (f replicaFiles) Clips() ([]uploader.Clip, error) {
	list, err := f.store.List()
	if err != nil {
		return nil, err
	}
	out := make([]uploader.Clip, len(list))
	for i, e := range list {
		out[i] = uploader.Clip{ID: e.ID, Size: e.Bytes}
	}
	return out, nil
}
