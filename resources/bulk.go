package resources

import "context"

type deferInsertsKey struct{}

// DeferInserts marks ctx for a bulk write (a transaction Bundle): the store
// may hold back creates and write them together, any time before the
// transaction reads or commits. A create's own errors may then surface at
// a later statement of the same transaction, so only callers whose writes
// fail or succeed together should ask for it; a taken unique key is then
// reported with Error.Resource naming the create it belonged to.
func DeferInserts(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferInsertsKey{}, true)
}

// InsertsDeferred reports whether DeferInserts marked ctx.
func InsertsDeferred(ctx context.Context) bool {
	v, _ := ctx.Value(deferInsertsKey{}).(bool)
	return v
}
