package dialect

import (
	"context"
	"net/url"

	"github.com/rosterhq/roster/resources"
)

// SearchAll pages through every match of params, as Roster itself within
// project ("" for every project), in id order unless params sort.
func SearchAll[T resources.Resource](ctx context.Context, res *resources.Service, project, typ string, params url.Values) ([]T, error) {
	t, ok := resources.Lookup(typ)
	if !ok {
		return nil, resources.NotFound("Unknown type %s", typ)
	}
	p := url.Values{"_sort": {"_id"}}
	for k, v := range params {
		p[k] = v
	}
	var out []T
	for offset := 0; ; offset += resources.MaxCount {
		q, err := resources.ParseQuery(t, p)
		if err != nil {
			return nil, err
		}
		q.Count, q.Offset = resources.MaxCount, offset
		page, err := resources.SearchTyped[T](resources.AsSystem(ctx, project), res, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < resources.MaxCount {
			return out, nil
		}
	}
}
