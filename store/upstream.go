package store

import (
	"context"
	"time"
)

// UpstreamState is a sign-in through an external identity provider on its
// way there and back: the hash of the state sent upstream, what the
// callback needs to go on (opaque here), and when it started.
type UpstreamState struct {
	Hash      string
	Data      string
	CreatedAt time.Time
}

// AddUpstreamState stores st; states started before before are purged on
// the way, since a sign-in abandoned upstream leaves its state behind.
func (s *Store) AddUpstreamState(ctx context.Context, st *UpstreamState, before time.Time) error {
	if _, err := s.exec(ctx, "DELETE FROM upstream_states WHERE created_at < ?", micro(before)); err != nil {
		return err
	}
	_, err := s.exec(ctx, "INSERT INTO upstream_states (state_hash, data, created_at) VALUES (?, ?, ?)",
		st.Hash, st.Data, micro(st.CreatedAt))
	return err
}

// TakeUpstreamState reads and deletes the state of that hash, once: of
// concurrent callbacks one gets it; NotFound for the others and for a
// state never stored.
func (s *Store) TakeUpstreamState(ctx context.Context, hash string) (*UpstreamState, error) {
	st := UpstreamState{Hash: hash}
	var created int64
	err := s.queryRow(ctx, "DELETE FROM upstream_states WHERE state_hash = ? RETURNING data, created_at", hash).Scan(&st.Data, &created)
	if err != nil {
		return nil, translate(err)
	}
	st.CreatedAt = fromMicro(created)
	return &st, nil
}
