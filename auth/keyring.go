package auth

import (
	"context"
	"sort"
	"time"

	"github.com/rosterhq/roster/resources"
)

// KeyReloadInterval is how often a process re-reads the signing keys, so a
// key rotated or retired by another process (or by `roster keys`) is
// picked up: new tokens move to the new key, and a retired key stops
// verifying everywhere within this interval.
var KeyReloadInterval = 30 * time.Second

// KeyInfo describes one signing key, without its private part.
type KeyInfo struct {
	KID       string
	Alg       string
	CreatedAt time.Time
	RetiredAt time.Time // zero while the key verifies tokens
	Current   bool      // the key new tokens are signed with
}

// refresh reloads the keys when they are older than KeyReloadInterval. A
// failed reload keeps the keys already loaded.
func (k *Keys) refresh(ctx context.Context) {
	k.mu.RLock()
	stale := time.Since(k.lastReload) > KeyReloadInterval
	k.mu.RUnlock()
	if stale {
		_ = k.reload(ctx)
	}
}

// List describes every signing key, oldest first.
func (k *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	rows, err := k.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].CreatedAt.Before(rows[j].CreatedAt) })
	k.mu.RLock()
	current := ""
	if k.signing != nil {
		current = k.signing.KID
	}
	k.mu.RUnlock()
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, KeyInfo{KID: r.KID, Alg: r.Alg, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, Current: r.KID == current})
	}
	return out, nil
}

// Retire stops a key from verifying tokens: every token it signed is
// refused from then on (in other processes within KeyReloadInterval). The
// current signing key cannot be retired — rotate first — so Roster always
// has a key to sign with.
func (k *Keys) Retire(ctx context.Context, kid string) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	k.mu.RLock()
	current := k.signing != nil && k.signing.KID == kid
	k.mu.RUnlock()
	if current {
		return resources.Business("Key %s is the current signing key: rotate to a new key before retiring it", kid)
	}
	ok, err := k.store.RetireSigningKey(ctx, kid, time.Now().UTC())
	if err != nil {
		return err
	}
	if !ok {
		return resources.NotFound("No active signing key %s", kid)
	}
	return k.reload(ctx)
}
