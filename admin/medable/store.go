package medable

import (
	"context"
	"time"

	"github.com/rosterhq/roster/store"
)

// Location is a place an account signs in from (see store.MedableLocation).
type Location = store.MedableLocation

// Store is the storage the Medable dialect needs beyond the core: the
// remembered login locations with their pending codes, and the count of
// recent wrong passwords per account. store.Store implements it.
type Store interface {
	// MedableLocation reads the location of (user, project, fingerprint
	// hash); a NotFound error when there is none.
	MedableLocation(ctx context.Context, userID, projectID, fingerprintHash string) (*Location, error)
	// PutMedableLocation creates the location or, when it exists, replaces
	// its pending code (resetting the failures), its name and — when
	// l.VerifiedAt is set — marks it verified.
	PutMedableLocation(ctx context.Context, l *Location) error
	// UseMedableLocationCode consumes the pending code of location id if its
	// hash matches, it has not expired at now and has failed fewer than
	// maxFailures times; remember marks the location verified. It reports
	// whether this call consumed it: of concurrent attempts one wins.
	UseMedableLocationCode(ctx context.Context, id, codeHash string, now time.Time, maxFailures int, remember bool) (bool, error)
	// FailMedableLocationCode counts a wrong code.
	FailMedableLocationCode(ctx context.Context, id string) error
	// TouchMedableLocation records a sign-in from the location.
	TouchMedableLocation(ctx context.Context, id string, now time.Time) error
	// MedableLoginFailures is the number of wrong passwords counted for key
	// and when their window started (zero when none).
	MedableLoginFailures(ctx context.Context, key string) (int, time.Time, error)
	// AddMedableLoginFailure counts one wrong password for key; a window
	// older than window starts again at now.
	AddMedableLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) error
	// ClearMedableLoginFailures forgets key's wrong passwords.
	ClearMedableLoginFailures(ctx context.Context, key string) error
}
