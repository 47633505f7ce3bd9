package app

import (
	"context"

	"github.com/rosterhq/roster/audit"
	"github.com/rosterhq/roster/resources"
)

// RotateKey adds a new token signing key (`roster keys rotate`) and records
// the rotation in the audit trail of the super admin's Default project, in
// one transaction. It returns the new key's kid.
func (a *App) RotateKey(ctx context.Context) (string, error) {
	var kid string
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if kid, err = a.Auth.Keys().Rotate(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, a.Resources, audit.Event{Act: audit.KeyRotation, Entities: []audit.Entity{{
			What: resources.Reference{Display: "Signing key " + kid}, Name: "signing key",
			Detail: []resources.AuditEventDetail{audit.Detail("kid", kid), audit.Detail("alg", "ES256")},
		}}})
	})
	return kid, err
}
