package bss

import (
	"context"
	"fmt"
)

// maxPages stops a pager whose server keeps reporting more records than it
// returns; 10 000 pages of 100 is far beyond any real account.
const maxPages = 10000

// collectPages fetches offset/limit pages of pageSize until the offset
// passes total_count or a page comes back empty. When key is not nil,
// records whose key was already seen are dropped: a list can shift between
// pages, so a record may appear twice.
func collectPages[T any](ctx context.Context, op string, pageSize int,
	fetch func(ctx context.Context, offset, limit int) (total int, items []T, err error),
	key func(T) string,
) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for offset, pages := 0, 0; ; offset += pageSize {
		if pages++; pages > maxPages {
			return nil, fmt.Errorf("bss: %s: gave up after %d pages; the server keeps reporting more records", op, maxPages)
		}
		total, items, err := fetch(ctx, offset, pageSize)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if key != nil {
				k := key(it)
				if k != "" && seen[k] {
					continue
				}
				seen[k] = true
			}
			out = append(out, it)
		}
		if len(items) == 0 || offset+pageSize >= total {
			return out, nil
		}
	}
}
