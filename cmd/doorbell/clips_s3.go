package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/household"
	"doorbell/internal/atomicfile"
	"doorbell/replica"
)

// s3Flags are how clips list and pull reach a replica (-from s3://…).
type s3Flags struct {
	endpoint, credentials, profile, region *string
}

func addS3Flags(fs *flag.FlagSet) s3Flags {
	return s3Flags{
		endpoint:    fs.String("endpoint", "", "with -from s3://…: the storage's `URL`, https://HOST[:PORT] (or $AWS_ENDPOINT_URL)"),
		credentials: fs.String("credentials", "", "with -from s3://…: your read key pair in an AWS credentials `FILE` (default: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY)"),
		profile:     fs.String("profile", "", "with -credentials: the `SECTION` to use (default: $AWS_PROFILE or default)"),
		region:      fs.String("region", "", "with -from s3://…: the bucket's `REGION` (default: $AWS_REGION or us-east-1)"),
	}
}

// client connects to the replica that from (s3://BUCKET/PREFIX) names.
func (f s3Flags) client(from string) (*replica.Client, error) {
	bucket, prefix, err := replica.ParseURL(from)
	if err != nil {
		return nil, err
	}
	endpoint := cmpStr(*f.endpoint, os.Getenv("AWS_ENDPOINT_URL"))
	if endpoint == "" {
		return nil, errors.New("give the storage's address with -endpoint https://HOST[:PORT] (or set AWS_ENDPOINT_URL)")
	}
	var creds replica.Credentials
	if *f.credentials != "" {
		if creds, err = replica.LoadCredentialsFile(*f.credentials, cmpStr(*f.profile, os.Getenv("AWS_PROFILE"))); err != nil {
			return nil, err
		}
	} else if c, ok := replica.EnvCredentials(); ok {
		creds = c
	} else {
		return nil, errors.New("no credentials: give your read key pair with -credentials FILE (AWS credentials format), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return replica.NewClient(replica.Target{Endpoint: endpoint, Bucket: bucket, Prefix: prefix,
		Region: cmpStr(*f.region, os.Getenv("AWS_REGION"))}, creds, nil)
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// listS3 lists the clips on a replica by their newest event records.
func listS3(ctx context.Context, cl *replica.Client, ids []age.Identity, trusted []ed25519.PublicKey, workers int) ([]household.Listed, map[string]*replica.Clip, error) {
	clips, err := cl.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]*replica.Clip{}
	for _, c := range clips {
		byID[c.ID] = c
	}
	out := make([]household.Listed, len(clips))
	err = parallel(ctx, len(clips), workers, func(ctx context.Context, n int) error {
		c := clips[n]
		l := household.Listed{ID: c.ID, Bytes: c.Size, Sig: household.SigNone, Err: errors.New("no event record on the replica")}
		// The newest record that opens: the complete one if it is there.
		for i := len(c.Records) - 1; i >= 0; i-- {
			var buf strings.Builder
			if err := cl.Get(ctx, c.Records[i].Key, 0, c.Records[i].Size, &buf); err != nil {
				return err
			}
			l = household.CheckRecord(c.ID, strings.NewReader(buf.String()), ids, trusted)
			l.Bytes = c.Size
			if l.Record != nil {
				break
			}
		}
		out[n] = l
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	household.SortListed(out)
	return out, byID, nil
}

// parallel runs f for 0..n-1, workers at a time, until the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// pullS3 reassembles every clip on the replica that dir lacks, or holds
// less of, from its chunk objects: the same two files the doorbell keeps.
func pullS3(ctx context.Context, cl *replica.Client, dir string, workers int, progress func(done, total int64)) (household.PullStats, []*replica.Clip, error) {
	var st household.PullStats
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return st, nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	clips, err := cl.List(ctx)
	if err != nil {
		return st, nil, err
	}
	var todo []*replica.Clip
	var total int64
	for _, c := range clips {
		if c.Size == 0 {
			continue
		}
		rec, hasRec := c.Record()
		if fileSize(filepath.Join(dir, c.ID+clip.ClipSuffix)) == c.Size && (!hasRec || fileSize(filepath.Join(dir, c.ID+clip.RecordSuffix)) == rec.Size) {
			st.Present++
			continue
		}
		todo = append(todo, c)
		total += c.Size
	}
	var mu sync.Mutex
	var done int64
	err = parallel(ctx, len(todo), workers, func(ctx context.Context, i int) error {
		c := todo[i]
		// The record first: a clip in dir has the record that goes with it.
		if rec, ok := c.Record(); ok {
			if err := writeAtomic(dir, c.ID+clip.RecordSuffix, func(w io.Writer) error {
				return cl.Get(ctx, rec.Key, 0, rec.Size, w)
			}); err != nil {
				return err
			}
		}
		err := writeAtomic(dir, c.ID+clip.ClipSuffix, func(w io.Writer) error {
			for _, p := range c.Plan() {
				if err := cl.Get(ctx, p.Key, p.Offset, p.Length, w); err != nil {
					return err
				}
				mu.Lock()
				done += p.Length
				if progress != nil {
					progress(done, total)
				}
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return err
		}
		mu.Lock()
		st.New++
		st.Bytes += c.Size
		mu.Unlock()
		return nil
	})
	return st, todo, err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// writeAtomic writes dir/name through a temporary file, renamed when whole.
func writeAtomic(dir, name string, fill func(io.Writer) error) error {
	tmp := filepath.Join(dir, "."+name+".part")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			os.Remove(tmp)
		}
		return fmt.Errorf("%s: %w (run clips pull again)", name, err)
	}
	return atomicfile.SyncDir(dir)
}
