package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"doorbell/clipstore"
	"doorbell/recorder"
	"doorbell/replica"
	"doorbell/replica/uploader"
)

// replicaStateFile notes, in the data directory, how much of each clip the
// replica holds.
const replicaStateFile = "replica-state.json"

// startReplica copies every sealed piece of every clip to the storage
// [replica] names, as the recorder writes it (replica/uploader). It returns
// nil when the replica is off. A replica that cannot start (its
// credentials file unreadable) is reported in the log and in /healthz,
// and recording goes on without it.
func (d *Daemon) startReplica(ctx context.Context, store *clipstore.Store) (recorder.Replica, error) {
	c := d.Cfg.Replica
	if !c.Enabled {
		return nil, nil
	}
	log := d.Log.With("part", "replica")
	target := replica.Target{Endpoint: c.Endpoint, Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region}
	client, err := d.replicaClient(target)
	if err != nil {
		log.Error("the replica is off: recording goes on, on this device only", "err", err)
		d.AddHealth("replica", func() any { return "off: " + err.Error() })
		return nil, nil
	}
	u := uploader.New(client, replicaFiles{store}, uploader.Config{
		MaxQueue:  c.QueueBytes,
		StateFile: filepath.Join(d.DataDir, replicaStateFile),
	}, log)
	if err := u.RegisterMetrics(d.Metrics); err != nil {
		return nil, fmt.Errorf("replica metrics: %v", err)
	}
	d.AddHealth("replica", func() any { return u.Status() })
	log.Info("copying sealed clips to the replica as they are written", "target", target.String())
	d.goBackground(func() { u.Run(ctx) })
	return u, nil
}

func (d *Daemon) replicaClient(t replica.Target) (*replica.Client, error) {
	creds, err := replica.LoadCredentialsFile(d.Cfg.Replica.CredentialsFile, d.Cfg.Replica.Profile)
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
